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
        case lender(any LendingSource)
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

    /// A message whose bytes `source` lends in place (the submission spool):
    /// the engine encodes them straight from its storage, without a copy
    /// into chunks first.
    package static func lending(_ source: any LendingSource) -> MessageSource {
        MessageSource(parts: [.lender(source)], knownSize: source.count)
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

/// Bytes a source lends rather than hands over: the engine reads them where
/// they are (``MessageSource/lending(_:)``).
package protocol LendingSource: AnyObject {
    /// How many bytes there are.
    var count: Int { get }
    /// Calls `body` with bytes starting at `offset` (at least one while
    /// `offset < count`; empty means the end), valid only during the call.
    func withBytes(at offset: Int, _ body: (UnsafeRawBufferPointer) throws -> Int) throws -> Int
}

/// Reads a ``MessageSource`` once, as wire-encoded chunks of a bounded size
/// with "is this the last" known in advance (what BDAT needs), or encoded
/// straight into a caller's buffer (``encode(into:limit:)``, what DATA uses).
///
/// Each message byte is copied once here, by the encoder, into the chunk or
/// the caller's buffer: owned chunks are held and consumed in place, lent
/// bytes are encoded from their storage.
final class PartsReader {
    private var parts: [MessageSource.Part]
    private var index = 0
    private var encoder = WireEncoder(dotStuffing: false)
    private var carry: [UInt8] = []
    /// The current owned chunk, encoded from `rawStart` on.
    private var raw: [UInt8] = []
    private var rawStart = 0
    /// How far into the current lending part.
    private var lent = 0
    /// Whether the whole message (and its final line end) has been encoded.
    private(set) var ended = false
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

    private func record(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard copy != nil else { return }
        if (copy?.count ?? 0) + bytes.count > copyLimit {
            copy = nil
            copyLimit = -1
        } else {
            copy?.append(contentsOf: bytes)
        }
    }

    init(parts: [MessageSource.Part]) { self.parts = parts }

    /// Sets how the wire chunks are encoded; call before the first chunk.
    func setDotStuffing(_ on: Bool) { encoder = WireEncoder(dotStuffing: on) }

    /// Holds a raw chunk to encode from.
    private func take(_ chunk: [UInt8]) {
        guard !chunk.isEmpty else { return }
        chunk.withUnsafeBufferPointer { record($0) }
        raw = chunk
        rawStart = 0
    }

    /// Encodes more of the message onto the end of `output` until it holds
    /// at least `limit` octets (up to three more) or the message has ended
    /// (its last line end added; ``ended`` is then true).
    func encode(into output: inout [UInt8], limit: Int) throws {
        while output.count < limit && !ended {
            if rawStart < raw.count {
                let start = rawStart
                rawStart += raw.withUnsafeBufferPointer { buffer in
                    encoder.encode(UnsafeBufferPointer(rebasing: buffer[start...]), into: &output, limit: limit)
                }
                if rawStart == raw.count {
                    raw = []
                    rawStart = 0
                }
                continue
            }
            guard index < parts.count else {
                encoder.finish(into: &output)
                ended = true
                break
            }
            switch parts[index] {
            case .bytes(let bytes):
                parts[index] = .bytes([])
                index += 1
                take(bytes)
            case .producer(let next):
                if let chunk = try next() { take(chunk) } else { index += 1 }
            case .lender(let source):
                let used = try source.withBytes(at: lent) { bytes in
                    let buffer = bytes.assumingMemoryBound(to: UInt8.self)
                    let used = encoder.encode(buffer, into: &output, limit: limit)
                    record(UnsafeBufferPointer(rebasing: buffer[0..<used]))
                    return used
                }
                if used == 0 {
                    index += 1
                    lent = 0
                } else {
                    lent += used
                }
            }
        }
    }

    /// Up to `maximum` octets of the wire form (line ends converted, a final
    /// CRLF added), and whether they are the last; an empty last chunk for an
    /// empty message.
    func nextWireChunk(maximum: Int) throws -> (bytes: [UInt8], isLast: Bool) {
        carry.reserveCapacity(maximum + 4)
        try encode(into: &carry, limit: maximum + 1)
        if carry.count <= maximum {
            let chunk = carry
            carry = []
            return (chunk, ended)
        }
        // The few octets past `maximum` start the next chunk; the chunk
        // itself is handed over, not copied.
        var chunk = carry
        carry = Array(chunk[maximum...])
        chunk.removeLast(chunk.count - maximum)
        return (chunk, false)
    }
}
