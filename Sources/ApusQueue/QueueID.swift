import ApusBase
import ApusPOSIX

/// A queue id: upper-case hexadecimal, at least 10 characters (apus makes 12),
/// from the kernel's random source, so one id says nothing about another.
///
/// It names the message's files under the queue directory (see ``QueueStore``).
package struct QueueID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The id text, for example `4F2A9C01E3B7`.
    package let rawValue: String

    /// How many hexadecimal characters ``random()`` produces.
    package static let generatedLength = 12

    /// Validates an id read from a file name or typed by a user: 10 to 32
    /// characters `0-9A-F`. Returns nil for anything else.
    package init?(_ text: String) {
        let utf8 = text.utf8
        guard (10...32).contains(utf8.count), utf8.allSatisfy(QueueID.isHexDigit) else { return nil }
        rawValue = text
    }

    /// A fresh random id (6 bytes from `getrandom`). The caller still creates its
    /// files with `O_EXCL`, so the rare clash is caught and retried.
    /// - Throws: ``Errno`` when the kernel's random source fails.
    package static func random() throws(Errno) -> QueueID {
        let bytes = try FileSystem.randomBytes(generatedLength / 2)
        return QueueID(unchecked: Hex.string(bytes))
    }

    private init(unchecked: String) { rawValue = unchecked }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// The id text.
    package var description: String { rawValue }

    /// Orders ids by their text.
    package static func < (a: QueueID, b: QueueID) -> Bool { a.rawValue < b.rawValue }
}
