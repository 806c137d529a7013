import ApusMessage
import ApusPOSIX
import Glibc

/// A message as read from the submitter: its header fields (changed later,
/// before sending) and its body, spooled with CRLF line ends, plus what the
/// reader noticed (8-bit bytes, long lines).
package struct ReceivedMessage {
    /// The header fields as written by the submitter.
    package var headers: Headers
    /// The body, every line ending in CRLF.
    package var body: Spool
    /// What the reader saw.
    package var stats: MessageReader.Stats
}

/// Reads a message from a file descriptor (stdin for `-bm`) through
/// ``MessageReader``, keeping the header block in memory (bounded by the
/// reader) and streaming the body into a ``Spool``, so memory does not grow
/// with the message.
package enum MessageIntake {
    /// Why the message could not be read.
    package enum Failure: Error {
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
    package static func read(
        from input: FileDescriptor, dotTerminates: Bool, spoolDirectory: String, sizeLimit: Int = 0
    ) throws(Failure) -> ReceivedMessage {
        try read(dotTerminates: dotTerminates, spoolDirectory: spoolDirectory, sizeLimit: sizeLimit) { buffer in
            try input.read(into: buffer)
        }
    }

    /// Reads a spooled message (`-bs`, a queued data file copy): no lone-dot rule.
    package static func read(spool: Spool, spoolDirectory: String, sizeLimit: Int = 0) throws(Failure)
        -> ReceivedMessage
    {
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
    package static func read(
        dotTerminates: Bool, spoolDirectory: String, sizeLimit: Int = 0,
        readChunk: (UnsafeMutableRawBufferPointer) throws -> Int
    ) throws(Failure) -> ReceivedMessage {
        let builder = Builder(dotTerminates: dotTerminates, spoolDirectory: spoolDirectory)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 1)
        defer { chunk.deallocate() }
        var total = 0
        while !builder.isEnded {
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
            if n == 0 { break }
            try builder.append(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
            if let failure = builder.failure { throw failure }
        }
        return try builder.finish()
    }

    /// A message fed as it arrives (`-bs` hands each DATA or BDAT piece over
    /// as it is read), read once through ``MessageReader`` into its header
    /// fields and a body ``Spool``: no copy of the whole message is kept in
    /// between.
    package final class Builder {
        private var reader: MessageReader
        private var headers = Headers()
        private let body: Spool
        private var ended = false
        /// The first data error (a header block too large …), reported by ``finish()``.
        package private(set) var failure: Failure?
        /// The octets appended so far.
        package private(set) var count = 0

        /// A builder; with `dotTerminates` a lone `.` line ends the message.
        package init(dotTerminates: Bool, spoolDirectory: String) {
            reader = MessageReader(dotTerminates: dotTerminates)
            body = Spool(directory: spoolDirectory)
        }

        /// Whether the message ended (a lone `.` with `dotTerminates`): later bytes are ignored.
        package var isEnded: Bool { ended }

        /// Feeds bytes. Throws `.spool` when the body cannot be spooled (disk
        /// full); a data error is kept for ``finish()`` (the rest is read and dropped).
        package func append(_ bytes: UnsafeRawBufferPointer) throws(Failure) {
            count += bytes.count
            guard !ended, failure == nil else { return }
            // Before the body the reader takes a line at a time, so the body
            // that follows the header block in this chunk is streamed from
            // here too, not copied into the reader's buffer first.
            var start = 0
            while start < bytes.count && !reader.canStreamBody {
                var end = start
                while end < bytes.count && bytes[end] != 10 && bytes[end] != 13 { end += 1 }
                end = min(end + 1, bytes.count)
                reader.append(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                start = end
                try drain()
                if ended || failure != nil { return }
            }
            if start < bytes.count { try streamBody(UnsafeRawBufferPointer(rebasing: bytes[start...])) }
        }

        /// Feeds bytes.
        package func append(_ bytes: [UInt8]) throws(Failure) {
            do {
                try bytes.withUnsafeBytes { try append($0) }
            } catch let failure as Failure {
                throw failure
            } catch {
                throw .spool(error)
            }
        }

        /// Ends the input and returns the message. Throws the data error met
        /// on the way, `.data(.nulByte)` when a NUL byte was seen, or `.spool`.
        package func finish() throws(Failure) -> ReceivedMessage {
            if let failure { throw failure }
            if !ended {
                reader.finish()
                try drain()
                if let failure { throw failure }
            }
            if reader.stats.hasNUL { throw .data(.nulByte) }
            return ReceivedMessage(headers: headers, body: body, stats: reader.stats)
        }

        private static let lineEnd: [UInt8] = [13, 10]

        /// The body goes from the input (or what the reader still holds)
        /// straight into the spool, each line with CRLF: no array per line.
        private func streamBody(_ bytes: UnsafeRawBufferPointer?) throws(Failure) {
            do {
                try reader.streamBody(bytes) { try body.append($0) }
            } catch {
                throw .spool(error)
            }
            if !reader.canStreamBody { try drain() }
        }

        private func drain() throws(Failure) {
            if reader.canStreamBody {
                try streamBody(nil)
                return
            }
            do {
                while let event = try reader.next() {
                    switch event {
                    case .header(let field): headers.append(field)
                    case .endOfHeaders: break
                    case .bodyPart(let piece): try body.append(piece)
                    case .bodyLine(let rest):
                        try body.append(rest)
                        try body.append(Self.lineEnd)
                    case .end: ended = true
                    }
                    if reader.canStreamBody { break }
                }
            } catch let error as MessageError {
                failure = .data(error)
            } catch {
                throw .spool(error)
            }
            if reader.canStreamBody { try streamBody(nil) }
        }
    }
}
