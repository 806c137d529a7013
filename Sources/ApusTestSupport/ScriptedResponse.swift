/// What the ``ScriptableSMTPServer`` does in answer to a command (or to the
/// connection itself, for the banner).
package indirect enum ScriptedResponse: Sendable, ExpressibleByStringInterpolation {
    /// Sends a reply: one or more lines separated by `\n` (`"250-a\n250 b"`),
    /// each sent with CRLF.
    case reply(String)
    /// Sends exactly these bytes (garbage, bare LF, a reply split oddly).
    case raw([UInt8])
    /// Waits this many seconds, then does the other response.
    case delayed(Double, ScriptedResponse)
    /// Does each response in turn (for example a reply, then `.disconnect`).
    case sequence([ScriptedResponse])
    /// Closes the connection without a word.
    case disconnect
    /// Never answers: keeps reading (and recording) until the client closes
    /// or the server stops.
    case hang

    /// `"250 ok"` as a ``reply(_:)``.
    package init(stringLiteral value: String) { self = .reply(value) }

    /// A reply line longer than RFC 5321 allows: `code`, a space, then
    /// `length` letters.
    package static func overlongLine(code: Int = 250, length: Int = 5000) -> ScriptedResponse {
        .raw(Array("\(code) ".utf8) + Array(repeating: UInt8(ascii: "x"), count: length) + [13, 10])
    }

    /// A reply with `count` lines (`250-line` … `250 last`).
    package static func manyLines(code: Int = 250, count: Int) -> ScriptedResponse {
        let lines = (1..<max(1, count)).map { "\(code)-line \($0)" } + ["\(code) last"]
        return .reply(lines.joined(separator: "\n"))
    }

    /// Bytes that are no SMTP reply at all (control characters, no code).
    package static let garbage: ScriptedResponse = .raw([0x01, 0x02, 0xff] + Array("garbage here\r\n".utf8))

    /// A reply, then the connection closed (`421 …` and gone).
    package static func replyThenDisconnect(_ text: String) -> ScriptedResponse {
        .sequence([.reply(text), .disconnect])
    }
}

/// One scripted answer: which command (and which occurrence of it) gets which response.
package struct ScriptRule: Sendable {
    /// The verb, upper case: `MAIL`, `RCPT`, `DATA`, `BDAT`, `EHLO`, …; `CONNECT`
    /// for the banner, `.` for the reply after the message data.
    package var verb: String
    /// Which occurrence of the verb on a connection (1-based), or nil for every one.
    package var occurrence: Int?
    /// Which connection (1-based, in accept order), or nil for every one.
    package var connection: Int?
    /// What to do.
    package var response: ScriptedResponse

    /// Creates a rule.
    package init(verb: String, occurrence: Int? = nil, connection: Int? = nil, response: ScriptedResponse) {
        self.verb = verb.uppercased()
        self.occurrence = occurrence
        self.connection = connection
        self.response = response
    }

    /// How specific the rule is: more specific rules win.
    var specificity: Int { (occurrence == nil ? 0 : 2) + (connection == nil ? 0 : 1) }

    func matches(verb: String, occurrence: Int, connection: Int) -> Bool {
        self.verb == verb && (self.occurrence ?? occurrence) == occurrence
            && (self.connection ?? connection) == connection
    }
}
