import ApusMessage
import ApusPOSIX
import Glibc

/// A message as read from the submitter: its header fields (changed later,
/// before sending) and its body, spooled with CRLF line ends, plus what the
/// reader noticed (8-bit bytes, long lines).
public struct ReceivedMessage {
    /// The header fields as written by the submitter.
    public var headers: Headers
    /// The body, every line ending in CRLF.
    public var body: Spool
    /// What the reader saw.
    public var stats: MessageReader.Stats
}

/// Reads a message from a file descriptor (stdin for `-bm`) through
/// ``MessageReader``, keeping the header block in memory (bounded by the
/// reader) and streaming the body into a ``Spool``, so memory does not grow
/// with the message.
public enum MessageIntake {
    /// Why the message could not be read.
    public enum Failure: Error {
        /// The input could not be read (exit 74).
        case read(Errno)
        /// The spool could not be written (exit 75: temporary, nothing kept).
        case spool(any Error)
        /// The message cannot be sent as it is (exit 65).
        case data(MessageError)
    }

    /// Reads everything from `input` (stdin for `-bm`). With `dotTerminates` a lone `.` line
    /// ends the message (sendmail without `-i`). With a `sizeLimit` (octets, 0 = none) reading
    /// stops as soon as the input passes it.
    public static func read(
        from input: FileDescriptor, dotTerminates: Bool, spoolDirectory: String, sizeLimit: Int = 0
    ) throws(Failure) -> ReceivedMessage {
        try read(dotTerminates: dotTerminates, spoolDirectory: spoolDirectory, sizeLimit: sizeLimit) { buffer in
            try input.read(into: buffer)
        }
    }

    /// Reads a spooled message (`-bs`, a queued data file copy): no lone-dot rule.
    public static func read(spool: Spool, spoolDirectory: String, sizeLimit: Int = 0) throws(Failure) -> ReceivedMessage {
        var offset = 0
        return try read(dotTerminates: false, spoolDirectory: spoolDirectory, sizeLimit: sizeLimit) { buffer in
            let n = try spool.read(from: offset, into: buffer)
            offset += n
            return n
        }
    }

    /// Reads everything `readChunk` gives (0 = end of input).
    ///
    /// Line ends are made CRLF (a lone CR or LF ends a line: see ``MessageReader``).
    /// Throws `.data(.tooLarge)` as soon as more than `sizeLimit` octets (0 = no
    /// limit) came in, and `.data(.nulByte)` at the end when a NUL byte was seen
    /// (so a stream of NULs still meets the size limit first). Nothing is left on
    /// disk either way: the spool's file has no name.
    public static func read(
        dotTerminates: Bool, spoolDirectory: String, sizeLimit: Int = 0,
        readChunk: (UnsafeMutableRawBufferPointer) throws -> Int
    ) throws(Failure) -> ReceivedMessage {
        var reader = MessageReader(dotTerminates: dotTerminates)
        var headers = Headers()
        let body = Spool(directory: spoolDirectory)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 1)
        defer { chunk.deallocate() }
        var finished = false
        var ended = false
        var total = 0
        while !ended {
            if !finished {
                let n: Int
                do {
                    n = try readChunk(chunk)
                } catch let error as Errno {
                    throw .read(error)
                } catch {
                    throw .read(Errno(EIO, operation: "read", object: "\(error)"))
                }
                total += n
                if sizeLimit > 0 && total > sizeLimit { throw .data(.tooLarge(limit: sizeLimit)) }
                if n == 0 {
                    reader.finish()
                    finished = true
                } else {
                    reader.append(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
                }
            }
            do {
                while let event = try reader.next() {
                    switch event {
                    case .header(let field): headers.append(field)
                    case .endOfHeaders: break
                    case .bodyPart(let piece): try body.append(piece)
                    case .bodyLine(let rest): try body.append(rest + [13, 10])
                    case .end: ended = true
                    }
                }
            } catch let error as MessageError {
                throw .data(error)
            } catch {
                throw .spool(error)
            }
            if finished && !ended { break }
        }
        if reader.stats.hasNUL { throw .data(.nulByte) }
        return ReceivedMessage(headers: headers, body: body, stats: reader.stats)
    }
}
