/// One SMTP reply: a three-digit code and one or more lines of text
/// (RFC 5321 §4.2), with the RFC 3463 enhanced status code when the server
/// gave one that matches the reply's class.
public struct SMTPReply: Hashable, Sendable, CustomStringConvertible {
    /// The reply code, 200–599.
    public var code: Int
    /// The enhanced status code from the first line ("2.1.0"), or nil.
    public var enhancedCode: EnhancedStatusCode?
    /// The text of each line after the code and separator, as sent
    /// (enhanced code included). At least one element (maybe empty).
    public var lines: [String]

    /// Creates a reply.
    public init(code: Int, enhancedCode: EnhancedStatusCode? = nil, lines: [String]) {
        self.code = code
        self.enhancedCode = enhancedCode
        self.lines = lines.isEmpty ? [""] : lines
    }

    /// 2xx.
    public var isPositive: Bool { code < 300 }
    /// 3xx (354 after DATA, 334 in AUTH).
    public var isIntermediate: Bool { code >= 300 && code < 400 }
    /// 4xx: try again later.
    public var isTransient: Bool { code >= 400 && code < 500 }
    /// 5xx: do not try again.
    public var isPermanent: Bool { code >= 500 }

    /// The text of every line with the enhanced code removed from each line
    /// that starts with it, joined by `separator`.
    public func text(separator: String = " ") -> String {
        lines.map { line in
            if let enhancedCode, line.hasPrefix(enhancedCode.description) {
                return String(line.dropFirst(enhancedCode.description.count).drop { $0 == " " })
            }
            return line
        }.joined(separator: separator)
    }

    /// The reply as one line for logs: `550 5.1.1 No such user here`.
    public var description: String {
        // A loop, not `lines.joined(separator:)`: that one is not specialized,
        // and building its iterator's metadata at run time cost a short
        // submission (which records the relay's reply) 6% of its instructions.
        var text = "\(code) "
        for (index, line) in lines.enumerated() { text += index == 0 ? line : " / " + line }
        return text
    }

    /// The reply as it would appear on the wire, lines joined by CRLF.
    public var wireLines: [String] {
        lines.enumerated().map { index, line in
            "\(code)\(index == lines.count - 1 ? " " : "-")\(line)"
        }
    }
}

/// An RFC 3463 enhanced status code: `class.subject.detail`.
public struct EnhancedStatusCode: Hashable, Sendable, CustomStringConvertible {
    /// 2, 4 or 5: matches the reply code's first digit.
    public var statusClass: Int
    /// The subject, 0–999.
    public var subject: Int
    /// The detail, 0–999.
    public var detail: Int

    /// Creates a code.
    public init(statusClass: Int, subject: Int, detail: Int) {
        self.statusClass = statusClass
        self.subject = subject
        self.detail = detail
    }

    /// "5.1.1".
    public var description: String { "\(statusClass).\(subject).\(detail)" }

    /// Parses an enhanced code at the start of `text` that is followed by a
    /// space or ends the text, and whose class is `expectedClass`.
    static func parse(prefixOf text: some Collection<UInt8>, expectedClass: Int) -> EnhancedStatusCode? {
        var parts: [Int] = []
        var digits = 0
        var value = 0
        for byte in text {
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                digits += 1
                if digits > 3 { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            } else if byte == UInt8(ascii: ".") && parts.count < 2 {
                if digits == 0 { return nil }
                parts.append(value)
                digits = 0
                value = 0
            } else if byte == UInt8(ascii: " ") {
                break
            } else {
                return nil
            }
        }
        if digits == 0 || parts.count != 2 { return nil }
        parts.append(value)
        guard parts[0] == expectedClass, parts[0] < 10 else { return nil }
        return EnhancedStatusCode(statusClass: parts[0], subject: parts[1], detail: parts[2])
    }
}
