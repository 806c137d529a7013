/// An incremental, bounded parser of SMTP replies.
///
/// Push bytes, pull replies: ``parse(_:)`` consumes complete lines from the
/// front of a buffer and returns a reply once its last line (`ddd SP text` or
/// `ddd` alone) has arrived, or nil for "need more bytes", remembering the
/// lines it already took. Feeding the same bytes whole, byte by byte or in any
/// chunks gives the same replies.
///
/// Limits (OpenSMTPD `smtp_client_readline`, Postfix `smtp_chat.c`): a line
/// holds at most ``maximumLineLength`` octets before its line end, a reply at
/// most ``maximumLines`` lines; the code is three digits 200–599, equal on
/// every line of a reply; the text holds no control characters other than
/// tab. Anything else throws ``SMTPError`` of kind
/// ``SMTPError/Kind/protocolViolation``, never unbounded memory. Lines end in
/// CRLF; a bare LF is accepted as a line end too.
public struct ReplyParser: Sendable {
    /// Octets a reply line may hold, its line end not counted.
    public static let maximumLineLength = 4096
    /// Lines a reply may hold.
    public static let maximumLines = 100

    private var code = 0
    private var lines: [String] = []
    private var enhancedCode: EnhancedStatusCode?

    /// A parser waiting for the first line of a reply.
    public init() {}

    /// Whether part of a multi-line reply has been read.
    public var isInsideReply: Bool { !lines.isEmpty }

    /// Consumes complete lines from the front of `buffer` and returns the
    /// first complete reply, or nil when `buffer` ends inside a reply (the
    /// lines read so far are kept; the unfinished line stays in `buffer`).
    ///
    /// - Throws: ``SMTPError`` (protocol violation) for a malformed or
    ///   oversized line or reply.
    public mutating func parse(_ buffer: inout ArraySlice<UInt8>) throws -> SMTPReply? {
        while true {
            guard let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) else {
                if buffer.count > Self.maximumLineLength + 1 {
                    throw SMTPError.protocolViolation("reply line longer than \(Self.maximumLineLength) octets")
                }
                return nil
            }
            var end = newline
            if end > buffer.startIndex && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let line = buffer[buffer.startIndex..<end]
            buffer = buffer[(newline + 1)...]
            if let reply = try take(line: line) { return reply }
        }
    }

    /// Parses `bytes` as a whole and returns every complete reply; throws if
    /// bytes of an unfinished reply are left over.
    public static func parseAll(_ bytes: [UInt8]) throws -> [SMTPReply] {
        var parser = ReplyParser()
        var slice = bytes[...]
        var replies: [SMTPReply] = []
        while let reply = try parser.parse(&slice) { replies.append(reply) }
        if !slice.isEmpty || parser.isInsideReply {
            throw SMTPError.protocolViolation("incomplete reply at end of input")
        }
        return replies
    }

    private mutating func take(line: ArraySlice<UInt8>) throws -> SMTPReply? {
        if line.count > Self.maximumLineLength {
            throw SMTPError.protocolViolation("reply line longer than \(Self.maximumLineLength) octets")
        }
        guard line.count >= 3 else { throw malformed(line) }
        let digits = Array(line.prefix(3))
        guard digits[0] >= UInt8(ascii: "2"), digits[0] <= UInt8(ascii: "5"),
            digits[1] >= UInt8(ascii: "0"), digits[1] <= UInt8(ascii: "9"),
            digits[2] >= UInt8(ascii: "0"), digits[2] <= UInt8(ascii: "9")
        else { throw malformed(line) }
        let lineCode = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        let rest = line.dropFirst(3)
        let isLast: Bool
        let text: ArraySlice<UInt8>
        if rest.isEmpty {
            isLast = true
            text = rest
        } else if rest.first == UInt8(ascii: " ") {
            isLast = true
            text = rest.dropFirst()
        } else if rest.first == UInt8(ascii: "-") {
            isLast = false
            text = rest.dropFirst()
        } else {
            throw malformed(line)
        }
        for byte in text where (byte < 0x20 && byte != 0x09) || byte == 0x7F {
            throw SMTPError.protocolViolation("control character in reply text")
        }
        if lines.isEmpty {
            code = lineCode
            enhancedCode = EnhancedStatusCode.parse(prefixOf: text, expectedClass: lineCode / 100)
        } else if lineCode != code {
            throw SMTPError.protocolViolation("reply code changed from \(code) to \(lineCode) inside a reply")
        }
        if lines.count >= Self.maximumLines {
            throw SMTPError.protocolViolation("reply longer than \(Self.maximumLines) lines")
        }
        lines.append(String(decoding: text, as: UTF8.self))
        guard isLast else { return nil }
        let reply = SMTPReply(code: code, enhancedCode: enhancedCode, lines: lines)
        lines = []
        code = 0
        enhancedCode = nil
        return reply
    }

    private func malformed(_ line: ArraySlice<UInt8>) -> SMTPError {
        let shown = String(decoding: line.prefix(40), as: UTF8.self).unicodeScalars.map {
            $0.value < 0x20 || $0.value == 0x7F ? "?" : String($0)
        }.joined()
        return SMTPError.protocolViolation("malformed reply line \"\(shown)\"")
    }
}
