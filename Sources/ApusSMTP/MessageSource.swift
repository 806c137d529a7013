import ApusPOSIX
import ApusTransport

/// Where a message's bytes come from: bytes, a string, lines, a stream, a
/// file descriptor or any chunk producer, or several of these one after the
/// other (Allegro `send-smtp`'s strings and streams concatenated).
///
/// The engine reads a source once, chunk by chunk, so a message of any size
/// is sent in constant memory; it converts line ends to CRLF and does the
/// dot-stuffing itself (see ``WireEncoder``). Line ends in the source may be
/// LF or CRLF.
///
/// ```
/// let message: MessageSource = .string("Subject: hi\n\n") + .fileDescriptor(.standardInput)
/// ```
public struct MessageSource {
    enum Part {
        case bytes([UInt8])
        case producer(() throws -> [UInt8]?)
    }

    var parts: [Part]

    /// The size in octets when known in advance (bytes, strings, lines),
    /// used for the SIZE parameter; nil when a part is a stream.
    public private(set) var knownSize: Int?

    /// A message held in memory.
    public static func bytes(_ bytes: [UInt8]) -> MessageSource {
        MessageSource(parts: [.bytes(bytes)], knownSize: bytes.count)
    }

    /// A message held in a string (its UTF-8 bytes).
    public static func string(_ text: String) -> MessageSource {
        .bytes(Array(text.utf8))
    }

    /// A message as lines without line ends (scsh, Racket); each gets a line end.
    public static func lines(_ lines: [String]) -> MessageSource {
        var bytes: [UInt8] = []
        for line in lines {
            bytes.append(contentsOf: line.utf8)
            bytes.append(UInt8(ascii: "\n"))
        }
        return .bytes(bytes)
    }

    /// A message as byte lines without line ends; each gets a line end.
    public static func lines(_ lines: [[UInt8]]) -> MessageSource {
        .bytes(lines.flatMap { $0 + [UInt8(ascii: "\n")] })
    }

    /// A message produced chunk by chunk: `next` returns the next chunk, or
    /// nil at the end (empty chunks are skipped). Errors it throws end the
    /// transaction.
    public static func chunks(size: Int? = nil, _ next: @escaping () throws -> [UInt8]?) -> MessageSource {
        MessageSource(parts: [.producer(next)], knownSize: size)
    }

    /// A message read from `stream` until it reports end of stream. The
    /// stream is not closed.
    public static func stream(_ stream: any ByteStream, size: Int? = nil) -> MessageSource {
        .chunks(size: size) {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = try chunk.withUnsafeMutableBytes { try stream.read(into: $0) }
            if n == 0 { return nil }
            chunk.removeLast(chunk.count - n)
            return chunk
        }
    }

    /// A message read from a file descriptor (a file, a pipe, standard input)
    /// until end of file. The descriptor is not closed.
    public static func fileDescriptor(_ descriptor: FileDescriptor, size: Int? = nil) -> MessageSource {
        .chunks(size: size) {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let result = chunk.withUnsafeMutableBytes { buffer in
                Result { () throws(Errno) -> Int in try descriptor.read(into: buffer) }
            }
            let n: Int
            switch result {
            case .success(let count): n = count
            case .failure(let error): throw TransportError.io(error)
            }
            if n == 0 { return nil }
            chunk.removeLast(chunk.count - n)
            return chunk
        }
    }

    /// The sources one after the other, as one message.
    public static func concatenation(_ sources: [MessageSource]) -> MessageSource {
        var size: Int? = 0
        for source in sources {
            if let known = source.knownSize, let total = size { size = total + known } else { size = nil }
        }
        return MessageSource(parts: sources.flatMap(\.parts), knownSize: size)
    }

    /// `left` then `right`, as one message.
    public static func + (left: MessageSource, right: MessageSource) -> MessageSource {
        .concatenation([left, right])
    }

    /// A reader of the raw chunks, in order.
    func makeReader() -> PartsReader { PartsReader(parts: parts) }
}

/// Reads a ``MessageSource`` once: raw chunks, or wire-encoded chunks of a
/// bounded size with "is this the last" known in advance (what BDAT needs).
final class PartsReader {
    private var parts: [MessageSource.Part]
    private var index = 0
    private var encoder = WireEncoder(dotStuffing: false)
    private var carry: [UInt8] = []
    private var ended = false
    /// Raw octets read so far.
    private(set) var rawCount = 0
    /// A copy of the raw octets read, kept while ``keepCopy(upTo:)`` allows
    /// (to send the message again in a follow-up transaction); nil once it
    /// would pass the limit, or when no copy is kept.
    private(set) var copy: [UInt8]? = nil
    private var copyLimit = 0

    /// Keeps a copy of what is read, up to `limit` octets (dropped beyond).
    func keepCopy(upTo limit: Int) {
        copy = []
        copyLimit = limit
    }

    private func record(_ bytes: [UInt8]) {
        guard copy != nil else { return }
        if (copy?.count ?? 0) + bytes.count > copyLimit {
            copy = nil
            copyLimit = -1
        } else {
            copy? += bytes
        }
    }

    init(parts: [MessageSource.Part]) { self.parts = parts }

    /// The next raw, non-empty chunk, or nil at the end.
    func nextRaw() throws -> [UInt8]? {
        while index < parts.count {
            switch parts[index] {
            case .bytes(let bytes):
                parts[index] = .bytes([])
                index += 1
                if !bytes.isEmpty {
                    rawCount += bytes.count
                    record(bytes)
                    return bytes
                }
            case .producer(let next):
                if let chunk = try next() {
                    if !chunk.isEmpty {
                        rawCount += chunk.count
                        record(chunk)
                        return chunk
                    }
                } else {
                    index += 1
                }
            }
        }
        return nil
    }

    /// Sets how the wire chunks are encoded; call before the first ``nextWireChunk(maximum:)``.
    func setDotStuffing(_ on: Bool) { encoder = WireEncoder(dotStuffing: on) }

    /// Up to `maximum` octets of the wire form (line ends converted, a final
    /// CRLF added), and whether they are the last; an empty last chunk for an
    /// empty message.
    func nextWireChunk(maximum: Int) throws -> (bytes: [UInt8], isLast: Bool) {
        while carry.count <= maximum && !ended {
            if let raw = try nextRaw() {
                encoder.encode(raw, into: &carry)
            } else {
                encoder.finish(into: &carry)
                ended = true
            }
        }
        if carry.count <= maximum {
            // All of it: hand the buffer over instead of copying it (a small
            // message's only chunk, every message's last).
            let chunk = carry
            carry = []
            return (chunk, ended)
        }
        let chunk = Array(carry[0..<maximum])
        carry.removeFirst(maximum)
        return (chunk, false)
    }
}
