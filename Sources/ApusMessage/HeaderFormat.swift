import ApusBase

/// Checking and formatting header fields (Racket net/head's role): field-name
/// validation, value checks against injection, folding, and RFC 2047 encoded words
/// for non-ASCII text.
public enum HeaderFormat {
    /// The line length folding aims for (RFC 5322 §2.1.1 "SHOULD be no more than 78").
    public static let preferredLineLength = 78
    /// The hard limit on a line, without CRLF (RFC 5322 §2.1.1).
    public static let maximumLineLength = 998

    /// Whether `name` is a valid field name: one or more printable US-ASCII
    /// characters (33–126) other than colon (RFC 5322 §3.6.8).
    public static func isValidName(_ name: some Collection<UInt8>) -> Bool {
        !name.isEmpty && name.allSatisfy(ASCII.isFieldNameByte)
    }

    /// Throws `MessageError.invalidHeaderName` unless `isValidName(name)`.
    public static func validateName(_ name: [UInt8]) throws {
        guard isValidName(name) else { throw MessageError.invalidHeaderName(name) }
    }

    /// Throws `MessageError.invalidHeaderValue` when an unfolded value holds CR, LF
    /// or NUL: such a value could end the field early and inject another header,
    /// or end the message on the SMTP connection.
    public static func validateValue(_ value: some Collection<UInt8>) throws {
        for b in value {
            switch b {
            case 0: throw MessageError.invalidHeaderValue(reason: "NUL byte")
            case ASCII.cr: throw MessageError.invalidHeaderValue(reason: "CR in value")
            case ASCII.lf: throw MessageError.invalidHeaderValue(reason: "LF in value")
            default: continue
            }
        }
    }

    /// Formats `Name: value` and folds it: where the line would pass `width`
    /// octets, a CRLF is inserted before a space or tab (folding white space), so
    /// unfolding gives back exactly `Name: value`. A run of text without white
    /// space longer than the width stays on one line (it cannot be split without
    /// changing it). The result ends in CRLF.
    ///
    /// - Precondition: the value holds no CR, LF or NUL (see `validateValue`).
    public static func fold(name: [UInt8], value: [UInt8], width: Int = preferredLineLength) -> [UInt8] {
        var out = name + [ASCII.colon, ASCII.space]
        var lineStart = 0
        var i = 0
        // Split the value into chunks each starting at a white space (except the first).
        while i < value.count {
            var j = i + 1
            while j < value.count, !ASCII.isWhitespace(value[j]) { j += 1 }
            let chunk = value[i..<j]
            if out.count - lineStart + chunk.count > width, i > 0, out.count - lineStart > 1 {
                out += ASCII.crlf
                lineStart = out.count
            }
            out += chunk
            i = j
        }
        out += ASCII.crlf
        return out
    }

    /// Whether `text` is all printable ASCII and white space (no encoding needed).
    static func isPlainASCII(_ text: some Collection<UInt8>) -> Bool {
        text.allSatisfy { ($0 >= 0x20 && $0 < 0x7F) || $0 == ASCII.tab }
    }

    /// Encodes unstructured text (a Subject, say) for a header: returned as is when
    /// it is plain printable ASCII, otherwise as a sequence of RFC 2047 encoded
    /// words (`=?utf-8?B?…?=` or `=?utf-8?Q?…?=`, Q when the text is mostly ASCII), each at
    /// most 75 characters (the first shorter, to share a line with a field name of up
    /// to 25 octets) and never splitting a UTF-8 sequence, separated by
    /// spaces so `fold` can break between them. Decoders join adjacent encoded
    /// words without the space, so the decoded text is exactly `text`.
    public static func encodeUnstructured(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        if isPlainASCII(bytes), !containsEncodedWordLookalike(bytes) { return bytes }
        return encodeWords(bytes, forPhrase: false)
    }

    /// Encodes a display name for an address header: plain atoms as is, ASCII text
    /// needing quotes as a quoted string, non-ASCII text as encoded words.
    public static func encodeDisplayName(_ name: String) -> [UInt8] {
        let bytes = Array(name.utf8)
        if isPlainASCII(bytes) {
            if containsEncodedWordLookalike(bytes) { return quoted(bytes) }
            let words = bytes.split(separator: ASCII.space, omittingEmptySubsequences: false)
            if words.allSatisfy({ !$0.isEmpty && $0.allSatisfy { ASCII.isAtext($0) } }) { return bytes }
            return quoted(bytes)
        }
        return encodeWords(bytes, forPhrase: true)
    }

    /// A quoted string with `"` and `\` escaped.
    static func quoted(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [ASCII.quote]
        for b in bytes {
            if b == ASCII.quote || b == ASCII.backslash { out.append(ASCII.backslash) }
            out.append(b)
        }
        out.append(ASCII.quote)
        return out
    }

    static func containsEncodedWordLookalike(_ bytes: [UInt8]) -> Bool {
        for i in 0..<max(0, bytes.count - 1) where bytes[i] == UInt8(ascii: "=") && bytes[i + 1] == UInt8(ascii: "?") {
            return true
        }
        return false
    }

    /// Splits UTF-8 `bytes` into encoded words of at most 75 characters each.
    static func encodeWords(_ bytes: [UInt8], forPhrase: Bool) -> [UInt8] {
        let nonASCII = bytes.filter { $0 >= 0x80 || $0 < 0x20 }.count
        let useQ = nonASCII * 3 < bytes.count  // mostly ASCII: Q is more readable
        let prefix = Array((useQ ? "=?utf-8?Q?" : "=?utf-8?B?").utf8)
        let suffix = Array("?=".utf8)
        // The first word shares its line with the field name: leave room for a name of up to 25 octets.
        var budget = 75 - 27 - prefix.count - suffix.count
        var words: [[UInt8]] = []
        var current: [UInt8] = []  // raw bytes of the current word
        var i = 0
        while i < bytes.count {
            // One UTF-8 sequence at a time.
            var j = i + 1
            while j < bytes.count, bytes[j] & 0xC0 == 0x80 { j += 1 }
            let scalar = Array(bytes[i..<j])
            if encodedLength(current + scalar, useQ: useQ, forPhrase: forPhrase) > budget, !current.isEmpty {
                words.append(current)
                current = []
                budget = 75 - prefix.count - suffix.count
            }
            current += scalar
            i = j
        }
        if !current.isEmpty || words.isEmpty { words.append(current) }
        var out: [UInt8] = []
        for (n, w) in words.enumerated() {
            if n > 0 { out.append(ASCII.space) }
            out += prefix + (useQ ? qEncode(w, forPhrase: forPhrase) : Base64.encode(w)) + suffix
        }
        return out
    }

    static func encodedLength(_ bytes: [UInt8], useQ: Bool, forPhrase: Bool) -> Int {
        useQ ? qEncode(bytes, forPhrase: forPhrase).count : (bytes.count + 2) / 3 * 4
    }

    /// RFC 2047 §4.2 "Q" encoding; in a phrase only letters, digits and `!*+-/` stay literal.
    static func qEncode(_ bytes: [UInt8], forPhrase: Bool) -> [UInt8] {
        var out: [UInt8] = []
        for b in bytes {
            switch b {
            case ASCII.space: out.append(UInt8(ascii: "_"))
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, UInt8(ascii: "!"), UInt8(ascii: "*"), UInt8(ascii: "+"),
                UInt8(ascii: "-"), UInt8(ascii: "/"):
                out.append(b)
            case 0x21...0x7E
            where !forPhrase && b != UInt8(ascii: "=") && b != UInt8(ascii: "?") && b != UInt8(ascii: "_"):
                out.append(b)
            default:
                out.append(ASCII.equals)
                Hex.append(b, to: &out)
            }
        }
        return out
    }
}
