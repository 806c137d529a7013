/// One command of a transaction list (scsh `smtp-helo`, `smtp-mail` …), for
/// ``SMTPSession/runTransactions(_:)``.
public enum SMTPCommand {
    /// HELO name.
    case helo(String)
    /// EHLO name (HELO fallback on 5xx).
    case ehlo(String)
    /// MAIL FROM:<sender>.
    case mail(String)
    /// RCPT TO:<recipient>.
    case rcpt(String)
    /// DATA and the message (converted and dot-stuffed).
    case data(MessageSource)
    /// RFC 821 SEND FROM:<sender>.
    case send(String)
    /// RFC 821 SOML FROM:<sender>.
    case soml(String)
    /// RFC 821 SAML FROM:<sender>.
    case saml(String)
    /// RSET.
    case rset
    /// VRFY user.
    case vrfy(String)
    /// EXPN list.
    case expn(String)
    /// HELP [topic].
    case help(String?)
    /// NOOP.
    case noop
    /// QUIT; the connection is closed after it.
    case quit
    /// RFC 821 TURN.
    case turn
}

extension SMTPSession {
    /// Runs `commands` in order until one gets a reply of 400 or more, then
    /// closes the connection whatever happened (scsh `smtp-transactions`).
    ///
    /// - Returns: the reply of the last command run: the failing one, or the
    ///   last one when all succeeded.
    /// - Throws: ``SMTPError`` for connection, timeout and protocol errors
    ///   (not for 4xx/5xx replies, which are returned).
    @discardableResult
    public func runTransactions(_ commands: [SMTPCommand]) throws -> SMTPReply {
        defer { close() }
        return try runTransactionsKeepingOpen(commands)
    }

    /// Like ``runTransactions(_:)`` but leaves the connection open when a
    /// command fails, so the caller can go on (scsh `smtp-transactions/no-close`).
    /// Only `.quit` closes it.
    @discardableResult
    public func runTransactionsKeepingOpen(_ commands: [SMTPCommand]) throws -> SMTPReply {
        var last = SMTPReply(code: 250, lines: ["no command"])
        for command in commands {
            last = try execute(command)
            if last.code >= 400 { break }
        }
        return last
    }

    /// Runs one command of a list and returns its reply whatever its code.
    public func execute(_ command: SMTPCommand) throws -> SMTPReply {
        switch command {
        case .helo(let name):
            return try heloExchange(name)
        case .ehlo(let name):
            return try hello(name).reply
        case .mail(let sender):
            return try exchange(try mailLine("MAIL", sender, []), stage: .mail)
        case .rcpt(let recipient):
            let outcome = try recipientFollowingForward(SMTPRecipient(recipient))
            return outcome.finalReply
        case .data(let message):
            let reply = try exchange("DATA", stage: .data)
            guard reply.code == 354 else { return reply }
            do {
                return try sendDataBody(message, quitAfter: false, onSent: nil)
            } catch let error as SMTPError where error.reply != nil {
                return error.reply ?? reply
            }
        case .send(let sender):
            return try exchange(try mailLine("SEND", sender, []), stage: .mail)
        case .soml(let sender):
            return try exchange(try mailLine("SOML", sender, []), stage: .mail)
        case .saml(let sender):
            return try exchange(try mailLine("SAML", sender, []), stage: .mail)
        case .rset:
            return try exchange("RSET", stage: .other)
        case .vrfy(let user):
            return try exchange(try verifyLine(user), stage: .other)
        case .expn(let list):
            return try exchange(try expandLine(list), stage: .other)
        case .help(let topic):
            return try exchange(try helpLine(topic), stage: .other)
        case .noop:
            return try exchange("NOOP", stage: .other)
        case .quit:
            let reply = try exchange("QUIT", stage: .other)
            close()
            return reply
        case .turn:
            return try exchange("TURN", stage: .other)
        }
    }
}
