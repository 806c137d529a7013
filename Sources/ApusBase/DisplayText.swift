/// Text from outside (addresses, replies, configuration values, an OAuth
/// endpoint's answer) made safe to show on one line of a terminal, a log or an
/// error message: the one home of that rule.
///
/// Control characters (below 0x20, and 0x7F) never pass through; what takes
/// their place is the caller's choice (Postfix's `printable` writes `?`).
package enum DisplayText {
    /// What a control character becomes.
    package enum Control: Sendable {
        /// `?` (Postfix's `printable`: mailq, configuration values).
        case question
        /// A space (log reasons: a reply's line breaks become blanks).
        case space
        /// `\n`, `\r`, `\t`, `\xHH` (error messages quoting a hostile address).
        case escaped
    }

    /// `text` on one line.
    /// - Parameters:
    ///   - controls: what control characters become.
    ///   - asciiOnly: also show every non-ASCII character as `?`.
    ///   - limit: at most this many characters (Unicode scalars) are kept,
    ///     followed by `ellipsis` when the text was longer.
    package static func oneLine(
        _ text: String, controls: Control = .question, asciiOnly: Bool = false, limit: Int? = nil,
        ellipsis: String = "…"
    ) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if let limit, count == limit {
                out += ellipsis
                break
            }
            count += 1
            let isControl = scalar.value < 0x20 || scalar.value == 0x7F
            if asciiOnly && !isControl && scalar.value >= 0x80 {
                out += "?"
                continue
            }
            guard isControl else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch controls {
            case .question: out += "?"
            case .space: out += " "
            case .escaped:
                switch scalar {
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    var hex: [UInt8] = []
                    Hex.append(UInt8(scalar.value), to: &hex)
                    out += "\\x" + String(decoding: hex, as: UTF8.self)
                }
            }
        }
        return out
    }
}
