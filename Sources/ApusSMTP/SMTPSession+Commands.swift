/// Single commands (OCamlnet `client` methods, scsh transactions). Each sends
/// one command, reads its reply, and returns it when it is the expected
/// success; any other reply is thrown as an ``SMTPError`` carrying it.
extension SMTPSession {
    func mailLine(_ verb: String, _ sender: String, _ words: [String]) throws -> String {
        try checkArgument(sender, what: "sender")
        for word in words { try checkArgument(word, what: "parameter") }
        return "\(verb) FROM:<\(sender)>" + spaced(words)
    }

    /// Each word with a space before it. A loop, not `joined()`: that one is
    /// not specialized, and building its iterator's metadata at run time cost
    /// a short submission 6% of its instructions.
    func spaced(_ words: [String]) -> String {
        var text = ""
        for word in words { text += " " + word }
        return text
    }

    func recipientLine(_ recipient: SMTPRecipient) throws -> String {
        try checkArgument(recipient.address, what: "recipient")
        return "RCPT TO:<\(recipient.address)>" + spaced(recipient.words(extensions: extensions))
    }

    /// MAIL FROM:<sender> with `parameters` (checked against the
    /// server's extensions). Expects 250.
    @discardableResult
    public func mail(from sender: String, parameters: MailParameters = MailParameters()) throws -> SMTPReply {
        let words = try parameters.words(size: parameters.size, extensions: extensions)
        return try command(try mailLine("MAIL", sender, words), stage: .mail)
    }

    /// RCPT TO:<recipient> (with DSN parameters when the server offers DSN).
    /// A 551 reply naming a forward path (`<addr>`) is followed once, with
    /// RCPT TO that address (OCamlnet `rcpt`).
    ///
    /// - Returns: the outcome: the reply, and for a followed 551 the new
    ///   address and its reply.
    /// - Throws: ``SMTPError`` when the recipient (or its forward address)
    ///   is refused.
    @discardableResult
    public func recipient(_ recipient: SMTPRecipient) throws -> RecipientOutcome {
        let outcome = try recipientFollowingForward(recipient)
        guard outcome.isAccepted else {
            throw SMTPError.unexpected(outcome.finalReply, command: "RCPT TO:<\(outcome.finalAddress)>", stage: .rcpt)
        }
        return outcome
    }

    /// Sends RCPT for `recipient` and follows a 551 forward once; never throws
    /// for a refusal.
    func recipientFollowingForward(_ recipient: SMTPRecipient) throws -> RecipientOutcome {
        let reply = try exchange(try recipientLine(recipient), stage: .rcpt)
        var outcome = RecipientOutcome(recipient: recipient.address, reply: reply)
        if !isFollowingForwards, let forward = RecipientOutcome.forwardPath(in: reply) {
            try follow(forward, from: recipient, into: &outcome)
        }
        return outcome
    }

    func follow(_ forward: String, from recipient: SMTPRecipient, into outcome: inout RecipientOutcome) throws {
        var moved = recipient
        moved.address = forward
        guard (try? checkArgument(forward, what: "forward path")) != nil else { return }
        trace?.record(.note, "551 for <\(recipient.address)>: trying forward path <\(forward)>")
        outcome.forwardedTo = forward
        outcome.forwardReply = try exchange(try recipientLine(moved), stage: .rcpt)
    }

    /// DATA: sends the message (line ends converted to CRLF, dot-stuffed,
    /// ended with `.`) after the 354 reply. Expects 250 at the end.
    @discardableResult
    public func data(_ message: MessageSource) throws -> SMTPReply {
        try command("DATA", stage: .data, accept: { $0 == 354 })
        return try sendDataBody(message, quitAfter: false, onSent: nil)
    }

    /// Streams `message` in DATA form and the final dot; returns the 250 reply.
    func sendDataBody(
        _ message: MessageSource, quitAfter: Bool, onSent: (() -> Void)?, copyLimit: Int? = nil
    ) throws -> SMTPReply {
        try sendDataBody(message.makeReader(), quitAfter: quitAfter, onSent: onSent, copyLimit: copyLimit)
    }

    /// ``sendDataBody(_:quitAfter:onSent:copyLimit:)`` from a reader (which
    /// keeps a copy of the message when `copyLimit` is given).
    /// `transaction` is the one whose DATA got the 354, if this session's machine ran it.
    func sendDataBody(
        _ reader: PartsReader, quitAfter: Bool, onSent: (() -> Void)?, copyLimit: Int? = nil,
        transaction: SMTPTransaction? = nil, next: SMTPTransaction? = nil
    ) throws -> SMTPReply {
        if let copyLimit { reader.keepCopy(upTo: copyLimit) }
        reader.setDotStuffing(true)
        var total = 0
        let block = connection.writeBufferSize
        // The body is encoded straight into the connection's output buffer
        // (one copy), which writes each full block.
        while !reader.ended {
            total += try io(command: "DATA", stage: .data) {
                try connection.appendingToOutput { output in
                    let before = output.count
                    output.reserveCapacity(block + 4)
                    try reader.encode(into: &output, limit: max(block, before + 1))
                    return output.count - before
                }
            }
            try io(command: nil, stage: .data) { try connection.writeFullBlocks() }
        }
        trace?.record(.note, "message: \(total) octets")
        var transaction = transaction ?? SMTPTransaction.afterGoAhead(extensions: extensions)
        return try finishMessage(&transaction, quitAfter: quitAfter, onSent: onSent, next: next)
    }

    /// BDAT (RFC 3030): sends `chunk` as it is (no conversion) as one chunk,
    /// `LAST` when `last`. Expects 250.
    @discardableResult
    public func bdat(_ chunk: [UInt8], last: Bool) throws -> SMTPReply {
        let line = "BDAT \(chunk.count)" + (last ? " LAST" : "")
        let stage: SMTPError.Stage = last ? .endOfData : .bdat
        try sendLine(line, stage: stage)
        try sendRaw(chunk, stage: stage)
        trace?.record(.note, "chunk: \(chunk.count) octets")
        let reply = try readReply(for: line, stage: stage)
        guard reply.isPositive else { throw SMTPError.unexpected(reply, command: line, stage: stage) }
        return reply
    }

    /// RSET: abandons the transaction. Expects 250.
    @discardableResult
    public func reset() throws -> SMTPReply {
        try command("RSET", stage: .other)
    }

    /// VRFY: asks the server to confirm a user. Accepts 250, 251 and 252
    /// ("cannot verify, but will accept").
    @discardableResult
    public func verify(_ user: String) throws -> SMTPReply {
        try command(try verifyLine(user), stage: .other, accept: { $0 >= 250 && $0 <= 252 })
    }

    /// `VRFY user`, its argument checked.
    func verifyLine(_ user: String) throws -> String {
        try checkArgument(user, what: "VRFY argument", allowAngles: true)
        return "VRFY \(user)"
    }

    /// `EXPN list`, its argument checked.
    func expandLine(_ list: String) throws -> String {
        try checkArgument(list, what: "EXPN argument", allowAngles: true)
        return "EXPN \(list)"
    }

    /// `HELP [topic]`, its argument checked.
    func helpLine(_ topic: String?) throws -> String {
        if let topic { try checkArgument(topic, what: "HELP topic") }
        return topic.map { "HELP \($0)" } ?? "HELP"
    }

    /// EXPN: asks the server to expand a mailing list.
    ///
    /// - Returns: the member lines (250), or nil when the server answers 252
    ///   "not expandable" (OCamlnet `expn` → `None`).
    /// - Throws: ``SMTPError`` for other replies (550 no such list, 502 …).
    public func expand(_ list: String) throws -> [String]? {
        let reply = try command(try expandLine(list), stage: .other, accept: { $0 == 250 || $0 == 252 })
        return reply.code == 252 ? nil : reply.lines
    }

    /// HELP [topic]: the server's help text (211 or 214).
    public func help(_ topic: String? = nil) throws -> [String] {
        try command(try helpLine(topic), stage: .other, accept: { $0 == 211 || $0 == 214 }).lines
    }

    /// NOOP: keeps the connection alive. Expects 250.
    @discardableResult
    public func noop() throws -> SMTPReply {
        try command("NOOP", stage: .other)
    }

    /// RFC 821 SEND FROM: deliver to the recipients' terminals. Expects 250.
    @discardableResult
    public func sendToTerminal(from sender: String) throws -> SMTPReply {
        try command(try mailLine("SEND", sender, []), stage: .mail)
    }

    /// RFC 821 SOML FROM: send to the terminal, or else mail. Expects 250.
    @discardableResult
    public func sendOrMail(from sender: String) throws -> SMTPReply {
        try command(try mailLine("SOML", sender, []), stage: .mail)
    }

    /// RFC 821 SAML FROM: send to the terminal and mail. Expects 250.
    @discardableResult
    public func sendAndMail(from sender: String) throws -> SMTPReply {
        try command(try mailLine("SAML", sender, []), stage: .mail)
    }

    /// RFC 821 TURN: asks to swap roles. Expects 250 (most servers answer 502).
    @discardableResult
    public func turn() throws -> SMTPReply {
        try command("TURN", stage: .other)
    }
}

/// What became of one recipient in a transaction.
public struct RecipientOutcome: Hashable, Sendable, CustomStringConvertible {
    /// The address as given.
    public var recipient: String
    /// The reply to RCPT TO for that address.
    public var reply: SMTPReply
    /// For a 551 reply naming a forward path that was followed: that address.
    public var forwardedTo: String?
    /// The reply to RCPT TO for ``forwardedTo``.
    public var forwardReply: SMTPReply?

    /// Creates an outcome.
    public init(recipient: String, reply: SMTPReply, forwardedTo: String? = nil, forwardReply: SMTPReply? = nil) {
        self.recipient = recipient
        self.reply = reply
        self.forwardedTo = forwardedTo
        self.forwardReply = forwardReply
    }

    /// The reply that decides: the forward reply when a 551 was followed.
    public var finalReply: SMTPReply { forwardReply ?? reply }
    /// The address that was finally tried.
    public var finalAddress: String { forwardedTo ?? recipient }
    /// Whether the server accepted the recipient (or its forward address).
    public var isAccepted: Bool { finalReply.isPositive }
    /// Whether it was refused for good (5xx).
    public var isRefused: Bool { finalReply.isPermanent }
    /// Whether it was deferred (4xx): try again later.
    public var isDeferred: Bool { finalReply.isTransient }

    /// "<a@b>: 250 2.1.5 Ok", with the forward path when followed.
    public var description: String {
        if let forwardedTo, let forwardReply {
            return "<\(recipient)>: \(reply.description); forwarded to <\(forwardedTo)>: \(forwardReply.description)"
        }
        return "<\(recipient)>: \(reply.description)"
    }

    /// The forward path in a 551 reply ("551 User not local; please try
    /// <user@example.org>"), or nil.
    public static func forwardPath(in reply: SMTPReply) -> String? {
        guard reply.code == 551 else { return nil }
        // Bytes, not Characters: a combining or prepended mark must not hide a bracket or "@".
        for line in reply.lines {
            let bytes = Array(line.utf8)
            guard let open = bytes.firstIndex(of: UInt8(ascii: "<")),
                let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: ">"))
            else { continue }
            let address = bytes[(open + 1)..<close]
            if !address.isEmpty && !address.contains(UInt8(ascii: " ")) && address.contains(UInt8(ascii: "@")) {
                return String(decoding: address, as: UTF8.self)
            }
        }
        return nil
    }
}
