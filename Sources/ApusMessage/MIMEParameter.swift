import ApusBase

/// MIME header parameters (RFC 2045 §5.1), with RFC 2231 encoding and
/// continuations for non-ASCII or long values (file names).
public enum MIMEParameter {
    /// Whether `b` may appear in an RFC 2045 token.
    static func isTokenByte(_ b: UInt8) -> Bool {
        b > 0x20 && b < 0x7F && !Array("()<>@,;:\\\"/[]?=".utf8).contains(b)
    }

    /// Whether `text` is a non-empty RFC 2045 token.
    public static func isToken(_ text: some Collection<UInt8>) -> Bool { !text.isEmpty && text.allSatisfy(isTokenByte) }

    /// Formats `; name=value` pieces for a header value: a token as is, other
    /// printable ASCII as a quoted string, anything else (or a value that would
    /// make a line over 78 octets) per RFC 2231 as `name*=utf-8''%XX…`, split into
    /// `name*0*=…; name*1*=…` continuations of at most ~60 characters.
    /// The result starts with `; ` so pieces can be appended to `type/subtype`.
    ///
    /// - Precondition: `name` is a token.
    public static func format(name: String, value: String) -> [UInt8] {
        let n = Array(name.utf8)
        precondition(isToken(n), "parameter name must be a token")
        let v = Array(value.utf8)
        let sep = Array("; ".utf8)
        if isToken(v), v.count <= 60 { return sep + n + [ASCII.equals] + v }
        if HeaderFormat.isPlainASCII(v), !v.contains(ASCII.tab), v.count <= 60 {
            return sep + n + [ASCII.equals] + HeaderFormat.quoted(v)
        }
        // RFC 2231 extended value, percent-encoded, split at character boundaries.
        var pieces: [[UInt8]] = []
        var current = Array("utf-8''".utf8)
        var i = 0
        while i < v.count {
            var j = i + 1
            while j < v.count, v[j] & 0xC0 == 0x80 { j += 1 }
            var encoded: [UInt8] = []
            for b in v[i..<j] {
                if isTokenByte(b) && b != UInt8(ascii: "*") && b != UInt8(ascii: "'") && b != UInt8(ascii: "%") {
                    encoded.append(b)
                } else {
                    encoded.append(UInt8(ascii: "%"))
                    Hex.append(b, to: &encoded)
                }
            }
            if current.count + encoded.count > 60, !current.isEmpty, current != Array("utf-8''".utf8) {
                pieces.append(current)
                current = []
            }
            current += encoded
            i = j
        }
        pieces.append(current)
        if pieces.count == 1 { return sep + n + Array("*=".utf8) + pieces[0] }
        var out: [UInt8] = []
        for (k, p) in pieces.enumerated() { out += sep + n + Array("*\(k)*=".utf8) + p }
        return out
    }
}
