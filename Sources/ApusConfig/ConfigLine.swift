/// One `KEY VALUE` line of apus.conf, split and unquoted.
///
/// Syntax (config.md): blanks are spaces and tabs; the key runs to the first
/// blank; the value is the rest with surrounding blanks removed. A value that
/// begins with `"` must end with the matching `"` (only blanks may follow);
/// inside, `\"` stands for `"` and `\\` for `\`, and any other backslash is an
/// error. A `#` starts a comment only as the first non-blank of a line: inside a
/// value it is kept, quoted or not.
struct ConfigLine {
    /// 1-based line number.
    var number: Int
    /// The key, exactly as written.
    var key: String
    /// The value, unquoted; empty when the line is a key alone.
    var value: String
    /// Whether the value was written in double quotes.
    var wasQuoted: Bool

    /// Parses one checked line; `nil` for a blank or comment line.
    ///
    /// Throws ``ConfigError`` `.syntax` for unbalanced quotes or a bad escape.
    static func parse(_ line: TextLine, file: String) throws(ConfigError) -> ConfigLine? {
        // Works on the UTF-8 bytes: every byte the syntax looks at (blank, `#`,
        // `"`, `\`) is ASCII, which never occurs inside a multi-byte sequence,
        // so each cut falls between whole characters.
        let bytes = Array(line.text.utf8)
        var index = 0
        func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
        func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        while index < bytes.count && isBlank(bytes[index]) { index += 1 }
        if index == bytes.count || bytes[index] == UInt8(ascii: "#") { return nil }
        let keyStart = index
        while index < bytes.count && !isBlank(bytes[index]) { index += 1 }
        let keyText = text(keyStart..<index)
        while index < bytes.count && isBlank(bytes[index]) { index += 1 }
        var end = bytes.count
        while end > index && isBlank(bytes[end - 1]) { end -= 1 }
        guard index < end, bytes[index] == UInt8(ascii: "\"") else {
            return ConfigLine(number: line.number, key: keyText, value: text(index..<end), wasQuoted: false)
        }
        var value: [UInt8] = []
        value.reserveCapacity(end - index)
        var position = index + 1
        var closed = false
        while position < end {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\\") {
                guard position + 1 < end, bytes[position + 1] == UInt8(ascii: "\"") || bytes[position + 1] == byte
                else {
                    throw ConfigError(
                        .syntax, file: file, line: line.number, key: keyText,
                        message: "bad escape in quoted value for '\(keyText)' (only \\\" and \\\\ are allowed)")
                }
                value.append(bytes[position + 1])
                position += 2
            } else if byte == UInt8(ascii: "\"") {
                closed = true
                position += 1
                break
            } else {
                value.append(byte)
                position += 1
            }
        }
        if !closed {
            throw ConfigError(
                .syntax, file: file, line: line.number, key: keyText,
                message: "missing closing quote in value for '\(keyText)'")
        }
        if position != end {
            throw ConfigError(
                .syntax, file: file, line: line.number, key: keyText,
                message: "text after the closing quote in value for '\(keyText)'")
        }
        return ConfigLine(
            number: line.number, key: keyText, value: String(decoding: value, as: UTF8.self), wasQuoted: true)
    }
}
