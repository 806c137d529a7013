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
        let scalars = Array(line.text.unicodeScalars)
        var index = 0
        func isBlank(_ s: Unicode.Scalar) -> Bool { s == " " || s == "\t" }
        while index < scalars.count && isBlank(scalars[index]) { index += 1 }
        if index == scalars.count || scalars[index] == "#" { return nil }
        var key = String.UnicodeScalarView()
        while index < scalars.count && !isBlank(scalars[index]) {
            key.append(scalars[index])
            index += 1
        }
        while index < scalars.count && isBlank(scalars[index]) { index += 1 }
        var end = scalars.count
        while end > index && isBlank(scalars[end - 1]) { end -= 1 }
        let keyText = String(key)
        guard index < end, scalars[index] == "\"" else {
            var value = String.UnicodeScalarView()
            value.append(contentsOf: scalars[index..<end])
            return ConfigLine(number: line.number, key: keyText, value: String(value), wasQuoted: false)
        }
        var value = String.UnicodeScalarView()
        var position = index + 1
        var closed = false
        while position < end {
            let scalar = scalars[position]
            if scalar == "\\" {
                guard position + 1 < end, scalars[position + 1] == "\"" || scalars[position + 1] == "\\" else {
                    throw ConfigError(
                        .syntax, file: file, line: line.number, key: keyText,
                        message: "bad escape in quoted value for '\(keyText)' (only \\\" and \\\\ are allowed)")
                }
                value.append(scalars[position + 1])
                position += 2
            } else if scalar == "\"" {
                closed = true
                position += 1
                break
            } else {
                value.append(scalar)
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
        return ConfigLine(number: line.number, key: keyText, value: String(value), wasQuoted: true)
    }
}
