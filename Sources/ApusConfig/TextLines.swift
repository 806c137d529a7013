import ApusPOSIX
import Glibc

/// The size limits every configuration-style file is held to.
///
/// A file is read whole into memory, so these bound what a hostile or mistaken
/// file can cost: a file over ``maximumFileSize`` or a line over
/// ``maximumLineLength`` is refused with a ``ConfigError`` of kind `.tooLarge`.
package enum ConfigLimits {
    /// The largest file accepted: 1 MiB.
    package static let maximumFileSize = 1 << 20
    /// The longest line accepted, without its line feed: 4096 bytes.
    package static let maximumLineLength = 4096
}

/// One line of a configuration-style file, already checked to be UTF-8 text
/// without control characters (tab excepted), its line feed and any carriage
/// return before it removed.
struct TextLine {
    /// 1-based line number.
    var number: Int
    /// The line's text.
    var text: String
}

/// Splits `bytes` into checked lines (see ``TextLine``).
///
/// Throws ``ConfigError`` (`.tooLarge` past ``ConfigLimits``, `.syntax` for a NUL
/// or control byte or invalid UTF-8), naming `file` and the line.
func splitLines(_ bytes: [UInt8], file: String) throws(ConfigError) -> [TextLine] {
    if bytes.count > ConfigLimits.maximumFileSize {
        throw ConfigError(.tooLarge, file: file, line: 0, message: "file larger than 1 MiB")
    }
    var lines: [TextLine] = []
    var start = 0
    var number = 0
    while start < bytes.count {
        number += 1
        var end = start
        while end < bytes.count && bytes[end] != 0x0A { end += 1 }
        let next = end + 1
        if end > start && bytes[end - 1] == 0x0D { end -= 1 }
        if end - start > ConfigLimits.maximumLineLength {
            throw ConfigError(
                .tooLarge, file: file, line: number,
                message: "line longer than \(ConfigLimits.maximumLineLength) bytes")
        }
        let slice = bytes[start..<end]
        for byte in slice where (byte < 0x20 && byte != 0x09) || byte == 0x7F {
            throw ConfigError(
                .syntax, file: file, line: number,
                message: byte == 0 ? "NUL byte in line" : "control character in line")
        }
        // An ASCII line is valid UTF-8 as it is; only others are validated
        // (`String(validating:as:)` is generic and not specialized: 2,300
        // instructions a line).
        let text: String
        if slice.allSatisfy({ $0 < 0x80 }) {
            text = String(decoding: slice, as: UTF8.self)
        } else if let valid = String(validating: slice, as: UTF8.self) {
            text = valid
        } else {
            throw ConfigError(.syntax, file: file, line: number, message: "line is not valid UTF-8")
        }
        lines.append(TextLine(number: number, text: text))
        start = next
    }
    return lines
}

/// What reading a configuration-style file found: its bytes and its mode bits.
struct FileContents {
    /// The whole file (at most ``ConfigLimits/maximumFileSize`` bytes).
    var bytes: [UInt8]
    /// `st_mode` of the file that was read (from `fstat` on the same descriptor).
    var mode: mode_t
}

/// Reads a regular file whole, refusing anything over ``ConfigLimits/maximumFileSize``.
///
/// Opens with `O_NONBLOCK` so a FIFO cannot hang the open, then checks with
/// `fstat` that it is a regular file. Throws ``ConfigError`` of kind
/// `.unreadable` carrying `strerror`'s words, or `.tooLarge`.
func readConfigFile(_ path: String) throws(ConfigError) -> FileContents {
    guard let contents = try readConfigFile(path, missingIsNil: false) else {
        preconditionFailure("readConfigFile returned nil with missingIsNil false")
    }
    return contents
}

/// ``readConfigFile(_:)``, returning `nil` for a missing file (`ENOENT` from
/// `open`) when `missingIsNil` is set.
func readConfigFile(_ path: String, missingIsNil: Bool) throws(ConfigError) -> FileContents? {
    let fd: FileDescriptor
    do {
        fd = try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY)
    } catch {
        if missingIsNil && error.code == ENOENT { return nil }
        throw ConfigError(.unreadable, file: path, line: 0, message: error.reason)
    }
    defer { fd.close() }
    let status: FileStatus
    do {
        status = try fd.status()
    } catch {
        throw ConfigError(.unreadable, file: path, line: 0, message: error.reason)
    }
    if !status.isRegularFile {
        throw ConfigError(.unreadable, file: path, line: 0, message: "not a regular file")
    }
    if status.size > Int64(ConfigLimits.maximumFileSize) {
        throw ConfigError(.tooLarge, file: path, line: 0, message: "file larger than 1 MiB")
    }
    do {
        let bytes = try fd.readAll(limit: ConfigLimits.maximumFileSize)
        return FileContents(bytes: bytes, mode: status.mode)
    } catch {
        if error.code == EFBIG {
            throw ConfigError(.tooLarge, file: path, line: 0, message: "file larger than 1 MiB")
        }
        throw ConfigError(.unreadable, file: path, line: 0, message: error.reason)
    }
}
