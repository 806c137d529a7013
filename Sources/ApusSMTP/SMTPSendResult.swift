/// The outcome of a transaction that delivered the message to at least one
/// recipient.
public struct SMTPSendResult: Sendable, Hashable {
    /// The reply to MAIL FROM.
    public var mailReply: SMTPReply
    /// Each recipient's outcome, in the envelope's order.
    public var recipients: [RecipientOutcome]
    /// The reply after the message (end of data, or the last BDAT).
    public var dataReply: SMTPReply

    /// Creates a result.
    public init(mailReply: SMTPReply, recipients: [RecipientOutcome], dataReply: SMTPReply) {
        self.mailReply = mailReply
        self.recipients = recipients
        self.dataReply = dataReply
    }

    /// The recipients that got the message.
    public var accepted: [RecipientOutcome] { recipients.filter(\.isAccepted) }
    /// The recipients refused for good (5xx).
    public var refused: [RecipientOutcome] { recipients.filter(\.isRefused) }
    /// The recipients deferred (4xx): try them again later.
    public var deferred: [RecipientOutcome] { recipients.filter(\.isDeferred) }
}

/// Options of ``SMTPSession/send(_:message:options:)``.
public struct SendOptions {
    /// What to do when recipients are refused.
    public var policy: RejectionPolicy
    /// Use BDAT when the server offers CHUNKING.
    public var useChunking: Bool
    /// The largest BDAT chunk in octets (default 1 MiB).
    public var chunkSize: Int
    /// Send QUIT right behind the end of the message (pipelined when the
    /// server allows) and close without waiting for QUIT's reply: one round
    /// trip less for a single-message submission. The session is closed after.
    public var quitAfter: Bool
    /// Called once the whole message has been written, before its reply is
    /// read (Racket `smtp-sending-end-of-message`).
    public var onMessageSent: (() -> Void)?
    /// Send RSET ahead of the transaction, to reuse a connection after an
    /// earlier one (a queue run). With PIPELINING it goes in the same write as
    /// MAIL and its reply is read first, so reuse costs no round trip; a
    /// refused RSET throws before anything else is read.
    public var resetFirst = false
    /// The largest message kept in memory to follow a 551 forward path that
    /// arrives once the message is already on its way (a pipelined send to
    /// several recipients): the forward addresses then get the message in a
    /// second transaction on the same connection. A larger message is not
    /// sent again and the 551 stays the recipient's reply. Default 1 MiB
    /// (with CHUNKING the copy is kept while the flight goes, for sends to
    /// several recipients under ``RejectionPolicy/deliverToAccepted``).
    public var forwardCopyLimit = 1 << 20
    /// The envelope of the message that will be sent next on this connection
    /// (a queue run; SIZE from its ``MailParameters/size``). When the server
    /// offers PIPELINING and that message goes by DATA, RSET and its MAIL,
    /// RCPTs and DATA go in the same write as this message's final dot (RFC
    /// 2920 §3.1: the message's transfer may open a group and DATA closes
    /// it), and their replies are read after this message's verdict: one
    /// round trip per message instead of two. (RSET as ``resetFirst`` sends
    /// it: the next transaction starts clean whatever this verdict was.) Nothing of it is announced with
    /// ``quitAfter``, a 551 forward path to follow, or an envelope the server
    /// cannot take (too large).
    ///
    /// The next ``SMTPSession/send(_:message:options:)`` for that envelope
    /// (with the same policy) goes on with it (its ``resetFirst`` is then
    /// already done). Any other
    /// command first reads its replies; if its DATA got 354 by then, the
    /// session closes the connection (the only way to deliver nothing) and
    /// that command throws. Closing the session drops it: the server then
    /// delivers nothing of it.
    public var next: SMTPEnvelope?

    /// Options with the library defaults.
    public init(
        policy: RejectionPolicy = .deliverToAccepted, useChunking: Bool = true, chunkSize: Int = 1 << 20,
        quitAfter: Bool = false, onMessageSent: (() -> Void)? = nil
    ) {
        self.policy = policy
        self.useChunking = useChunking
        self.chunkSize = max(1, chunkSize)
        self.quitAfter = quitAfter
        self.onMessageSent = onMessageSent
    }
}
