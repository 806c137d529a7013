import ApusPOSIX

/// A protocol trace sink the caller passes to a session (CHICKEN `VERBOSE`):
/// every line sent and received, plus notes (TLS started, message sent,
/// 551 followed).
///
/// The session redacts before the sink sees anything: the base64 after
/// `AUTH MECHANISM` and every client line of an AUTH exchange become
/// ``redactionMarker``. Message bodies are not traced line by line, only noted
/// with their size. The engine never opens a log of its own.
public struct SMTPTrace: Sendable {
    /// Which way a traced line went.
    public enum Direction: Sendable, Hashable {
        /// From the client to the server.
        case sent
        /// From the server.
        case received
        /// A remark by the engine, not a protocol line.
        case note
    }

    /// What replaces credentials in a trace.
    public static let redactionMarker = "<redacted>"

    private let sink: @Sendable (Direction, String) -> Void

    /// A trace that hands each line (without CRLF) to `sink`.
    public init(_ sink: @escaping @Sendable (Direction, String) -> Void) {
        self.sink = sink
    }

    /// Records one line.
    public func record(_ direction: Direction, _ line: String) {
        sink(direction, line)
    }

    /// A trace written to `descriptor` (standard error, an open log file):
    /// `C: ` before sent lines, `S: ` before received ones, `*: ` before notes,
    /// each line in one write. Write errors are ignored.
    public static func fileDescriptor(_ descriptor: FileDescriptor, prefix: String = "") -> SMTPTrace {
        SMTPTrace { direction, line in
            let tag: String
            switch direction {
            case .sent: tag = "C: "
            case .received: tag = "S: "
            case .note: tag = "*: "
            }
            let bytes = Array((prefix + tag + line + "\n").utf8)
            try? descriptor.writeAll(bytes)
        }
    }

    /// A trace to standard error.
    public static var standardError: SMTPTrace { fileDescriptor(.standardError) }
}
