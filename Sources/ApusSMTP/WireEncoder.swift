/// Streaming conversion of message bytes to their SMTP wire form.
///
/// Lines may end in LF, CRLF or a lone CR; on the wire every line ends in
/// CRLF, so the output never holds a CR without LF or an LF without CR (no
/// SMTP smuggling through `\r.\r\n` or `\n.\r\n`). The conversion comes
/// first: with dot-stuffing (DATA, RFC 5321 §4.5.2) a line starting with `.`
/// gets a second `.`, also after a lone CR; BDAT sends lines as they are. ``finish(into:)`` ends an unterminated last line with CRLF. Input
/// may be split anywhere (even between CR and LF): the output is the same.
public struct WireEncoder: Sendable {
    /// Whether lines starting with `.` are doubled.
    public let dotStuffing: Bool
    private var atLineStart = true
    private var pendingCR = false

    /// An encoder at the start of a message.
    public init(dotStuffing: Bool) {
        self.dotStuffing = dotStuffing
    }

    /// Appends the wire form of `chunk` to `output`.
    ///
    /// Contiguous input (arrays, slices, buffers) takes a fast path that copies
    /// each run of ordinary bytes in one go and steps byte by byte only at line
    /// boundaries; other sequences go byte by byte. Both give the same bytes.
    public mutating func encode(_ chunk: some Sequence<UInt8>, into output: inout [UInt8]) {
        let done: Void? = chunk.withContiguousStorageIfAvailable { buffer in
            encodeRuns(buffer, into: &output)
        }
        if done == nil {
            for byte in chunk { step(byte, into: &output) }
        }
    }

    /// The fast path: runs without CR or LF in the middle of a line are copied whole.
    private mutating func encodeRuns(_ buffer: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) {
        output.reserveCapacity(output.count + buffer.count + buffer.count / 32 + 8)
        let count = buffer.count
        var index = 0
        while index < count {
            if pendingCR || atLineStart {
                step(buffer[index], into: &output)
                index += 1
                continue
            }
            var end = index
            while end < count {
                let byte = buffer[end]
                if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") { break }
                end += 1
            }
            if end > index {
                output.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[index..<end]))
            }
            if end < count { step(buffer[end], into: &output) }
            index = end + 1
        }
    }

    /// Encodes from the front of `buffer` until `output` holds at least
    /// `limit` octets (it may pass it by up to three: a line end and a
    /// stuffed dot) or `buffer` is used up; returns how many octets of
    /// `buffer` were consumed. The bytes are copied once, straight into
    /// `output` (the send path's one copy).
    mutating func encode(_ buffer: UnsafeBufferPointer<UInt8>, into output: inout [UInt8], limit: Int) -> Int {
        let count = buffer.count
        var index = 0
        while index < count && output.count < limit {
            if pendingCR || atLineStart {
                step(buffer[index], into: &output)
                index += 1
                continue
            }
            let stop = min(count, index + (limit - output.count))
            var end = index
            while end < stop {
                let byte = buffer[end]
                if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") { break }
                end += 1
            }
            if end > index {
                output.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[index..<end]))
            }
            if end < stop {
                step(buffer[end], into: &output)
                index = end + 1
            } else {
                index = end
            }
        }
        return index
    }

    /// One byte through the state machine: CR held until we know whether LF
    /// follows, bare LF and lone CR → CRLF, a dot at a line start doubled.
    private mutating func step(_ byte: UInt8, into output: inout [UInt8]) {
        if pendingCR {
            pendingCR = false
            output.append(UInt8(ascii: "\r"))
            output.append(UInt8(ascii: "\n"))
            atLineStart = true
            if byte == UInt8(ascii: "\n") { return }
        }
        switch byte {
        case UInt8(ascii: "\r"):
            pendingCR = true
        case UInt8(ascii: "\n"):
            output.append(UInt8(ascii: "\r"))
            output.append(UInt8(ascii: "\n"))
            atLineStart = true
        default:
            if atLineStart && dotStuffing && byte == UInt8(ascii: ".") {
                output.append(UInt8(ascii: "."))
            }
            output.append(byte)
            atLineStart = false
        }
    }

    /// Ends the message: a held CR becomes CRLF, and an unterminated last line
    /// gets its CRLF. The encoder is then at the start of a new message.
    public mutating func finish(into output: inout [UInt8]) {
        if pendingCR {
            output.append(UInt8(ascii: "\r"))
            output.append(UInt8(ascii: "\n"))
            pendingCR = false
            atLineStart = true
        }
        if !atLineStart {
            output.append(UInt8(ascii: "\r"))
            output.append(UInt8(ascii: "\n"))
        }
        atLineStart = true
    }

    /// The wire form of a whole message.
    public static func encode(_ message: some Sequence<UInt8>, dotStuffing: Bool) -> [UInt8] {
        var encoder = WireEncoder(dotStuffing: dotStuffing)
        var output: [UInt8] = []
        encoder.encode(message, into: &output)
        encoder.finish(into: &output)
        return output
    }
}
