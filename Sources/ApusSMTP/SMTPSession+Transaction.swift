/// Whole transactions: MAIL, RCPT… and the message, carried as the server's
/// extensions allow (see ``TransactionPlan``).
extension SMTPSession {
    /// Sends one message: MAIL FROM, RCPT TO for each recipient, and the
    /// message by DATA or BDAT.
    ///
    /// - With PIPELINING, MAIL, every RCPT and DATA go in one write and the
    ///   replies are matched in order.
    /// - With CHUNKING, the envelope and `BDAT n LAST` with the message go in
    ///   one flight when the message fits in ``SendOptions/chunkSize``;
    ///   larger messages go as a series of chunks written without waiting.
    /// - Otherwise one command at a time.
    ///
    /// SIZE is declared when the server offers it and the size is known
    /// (``MailParameters/size`` or the source's ``MessageSource/knownSize``);
    /// a size over the server's limit throws ``SMTPError/Kind/messageTooLarge``
    /// before anything is sent. A 551 reply naming a forward path is followed
    /// once: with another RCPT when the protocol still allows one (lock-step,
    /// or when a pipelined DATA was refused), else — the message was already
    /// under way to the other recipients — with a second transaction on the
    /// same connection once the first is done, re-sending a copy of the
    /// message kept up to ``SendOptions/forwardCopyLimit`` (not when QUIT
    /// already went in a CHUNKING flight).
    ///
    /// Under ``RejectionPolicy/abortIfAnyPermanent`` nothing is delivered if a
    /// recipient got 5xx: RSET instead of DATA; a pipelined DATA that got
    /// 354 is abandoned by closing the connection without the final dot (so
    /// the server discards it); with CHUNKING and several recipients the
    /// message goes without LAST and `BDAT 0 LAST` follows only if no
    /// recipient got 5xx.
    ///
    /// - Returns: the replies to MAIL, each RCPT and the message.
    /// - Throws: ``SMTPError``: ``SMTPError/Kind/recipientsRejected`` when
    ///   nothing was delivered because of recipients; the reply kinds for MAIL
    ///   or data failures; connection, timeout and protocol errors. After an
    ///   error the session may be closed (``isClosed``); after
    ///   ``SendOptions/quitAfter`` it is.
    @discardableResult
    public func send(
        _ envelope: SMTPEnvelope, message: MessageSource, options: SendOptions = SendOptions()
    ) throws -> SMTPSendResult {
        let size = envelope.parameters.size ?? message.knownSize
        let mode = TransactionPlan.mode(
            extensions: extensions, recipientCount: envelope.recipients.count, policy: options.policy,
            useChunking: options.useChunking)
        // The transaction announced behind the last message's dot, if it is this one.
        var continued: SMTPTransaction? = nil
        if let pending = announced {
            if mode == .pipelinedData, let announcedFor = announcedEnvelope,
                announcedFor.sender == envelope.sender, announcedFor.recipients == envelope.recipients,
                announcedFor.parameters == envelope.parameters
            {
                announced = nil
                continued = pending
            } else {
                try settleAnnounced()
            }
        }
        // An announced transaction has its lines already (checked; SIZE from
        // the parameters only, as announced: see SendOptions.next).
        let (mail, rcpts) = continued == nil ? try envelopeLines(envelope, size: size) : ("", [])
        if options.resetFirst && continued == nil {
            if extensions.pipelining {
                try sendLine("RSET", stage: .other)
                pendingResetReply = true
            } else {
                try command("RSET", stage: .other)
            }
        }
        switch mode {
        case .chunked(let pipelined, let lastInFlight):
            if pipelined {
                return try sendPipelinedChunks(
                    envelope, mail: mail, rcpts: rcpts, message: message, lastInFlight: lastInFlight, options: options)
            }
            var transaction = SMTPTransaction(
                recipients: envelope.recipients, mailLine: mail, recipientLines: rcpts, extensions: extensions,
                pipelined: false, policy: options.policy, sendsData: false, followsForwards: !isFollowingForwards)
            let (mailReply, outcomes) = try drive(&transaction)
            let reader = message.makeReader()
            var dataReply: SMTPReply
            repeat {
                let (chunk, isLast) = try io(command: "BDAT", stage: .bdat) {
                    try reader.nextWireChunk(maximum: options.chunkSize)
                }
                let end = try perform(
                    transaction.chunk(size: chunk.count, last: isLast), on: &transaction, chunk: chunk,
                    onSent: options.onMessageSent)
                if case .delivered(let reply)? = end {
                    dataReply = reply
                    break
                }
            } while true
            finishQuit(options, pipelinedQUIT: false)
            return SMTPSendResult(mailReply: mailReply, recipients: outcomes, dataReply: dataReply)
        case .pipelinedData, .lockStep:
            var transaction =
                continued
                ?? SMTPTransaction(
                    recipients: envelope.recipients, mailLine: mail, recipientLines: rcpts, extensions: extensions,
                    pipelined: mode == .pipelinedData, policy: options.policy, followsForwards: !isFollowingForwards)
            var (mailReply, outcomes) = try drive(&transaction)
            // A 551 that came back while DATA got 354: the forward paths get
            // the message in a second transaction once this one is done.
            let forwards = unfollowedForwards(outcomes)
            let pipelineQUIT = options.quitAfter && extensions.pipelining && forwards.isEmpty
            let next = forwards.isEmpty && !options.quitAfter ? announcement(of: options.next, options: options) : nil
            let reader = message.makeReader()
            let dataReply = try sendDataBody(
                reader, quitAfter: pipelineQUIT, onSent: options.onMessageSent,
                copyLimit: forwards.isEmpty ? nil : options.forwardCopyLimit, transaction: transaction, next: next)
            if !forwards.isEmpty {
                followForwards(forwards, envelope: envelope, copy: reader.copy, options: options, into: &outcomes)
            }
            finishQuit(options, pipelinedQUIT: pipelineQUIT)
            return SMTPSendResult(mailReply: mailReply, recipients: outcomes, dataReply: dataReply)
        }
    }

    /// The MAIL and RCPT lines of `envelope`, SIZE declared when known and
    /// offered. The one SIZE check: a `size` over the server's limit throws
    /// ``SMTPError/Kind/messageTooLarge`` before anything is sent.
    func envelopeLines(_ envelope: SMTPEnvelope, size: Int?) throws -> (mail: String, rcpts: [String]) {
        precondition(!envelope.recipients.isEmpty, "a transaction needs at least one recipient")
        if let size, let limit = extensions.sizeLimit, size > limit {
            throw SMTPError(
                .messageTooLarge, "message of \(size) octets exceeds the server's limit of \(limit)",
                command: "MAIL FROM", stage: .mail)
        }
        let mail = try mailLine("MAIL", envelope.sender, envelope.parameters.words(size: size, extensions: extensions))
        return (mail, try envelope.recipients.map { try recipientLine($0) })
    }

    /// The recipients whose RCPT got a 551 naming a forward path that was not
    /// followed (the message was already under way): index and forward path.
    func unfollowedForwards(_ outcomes: [RecipientOutcome]) -> [(index: Int, forward: String)] {
        guard !isFollowingForwards else { return [] }
        return outcomes.enumerated().compactMap { index, outcome in
            guard outcome.forwardedTo == nil, let forward = RecipientOutcome.forwardPath(in: outcome.reply),
                (try? checkArgument(forward, what: "forward path")) != nil
            else { return nil }
            return (index, forward)
        }
    }

    /// Sends the message again, in a second transaction on this connection,
    /// to the forward paths of 551 replies (OCamlnet `rcpt` behaviour, for a
    /// pipelined send whose message was under way when the 551 arrived).
    /// Each outcome gets ``RecipientOutcome/forwardedTo`` and the reply that
    /// decided (its RCPT's, or the message's when that was refused). Without
    /// a copy of the message (larger than ``SendOptions/forwardCopyLimit``)
    /// nothing is sent and the 551 stays the reply. Never throws: the first
    /// transaction's result stands.
    func followForwards(
        _ forwards: [(index: Int, forward: String)], envelope: SMTPEnvelope, copy: [UInt8]?, options: SendOptions,
        into outcomes: inout [RecipientOutcome]
    ) {
        guard let copy, !isClosed else {
            trace?.record(.note, "551 forward path(s) not followed: the message is larger than the copy limit")
            return
        }
        var followUp = envelope
        followUp.recipients = forwards.map { item in
            var moved = envelope.recipients[item.index]
            moved.address = item.forward
            trace?.record(
                .note, "551 for <\(moved.address)>: sending to forward path <\(item.forward)> in a second transaction")
            return moved
        }
        for item in forwards { outcomes[item.index].forwardedTo = item.forward }
        var followOptions = options
        followOptions.quitAfter = false
        followOptions.resetFirst = false
        followOptions.onMessageSent = nil
        followOptions.policy = .deliverToAccepted
        isFollowingForwards = true
        defer { isFollowingForwards = false }
        do {
            let result = try send(followUp, message: .bytes(copy), options: followOptions)
            for (item, outcome) in zip(forwards, result.recipients) {
                outcomes[item.index].forwardReply = outcome.isAccepted ? result.dataReply : outcome.reply
            }
        } catch {
            let failure = error as? SMTPError
            for item in forwards {
                outcomes[item.index].forwardReply =
                    failure?.rejectedRecipients.first(where: { $0.recipient == item.forward })?.reply
                    ?? failure?.reply ?? SMTPReply(code: 451, lines: ["4.4.0 forward path not tried: \(error)"])
            }
        }
    }

    /// After a successful transaction with ``SendOptions/quitAfter``: QUIT
    /// (unless already sent) and close without waiting for its reply.
    private func finishQuit(_ options: SendOptions, pipelinedQUIT: Bool) {
        guard options.quitAfter else { return }
        if pipelinedQUIT { close() } else { quitWithoutWaiting() }
    }

    /// The error for a transaction abandoned because of its recipients (traced).
    func recipientsRejected(_ outcomes: [RecipientOutcome], how: String) -> SMTPError {
        let (error, message) = SMTPTransaction.recipientsRejected(outcomes)
        trace?.record(.note, "\(message) (\(how))")
        return error
    }

    /// Runs `transaction` to its go-ahead: performs its actions in order and
    /// hands it each reply it awaits (an announced one: from its replies on).
    /// The only I/O of an envelope.
    func drive(_ transaction: inout SMTPTransaction) throws -> (SMTPReply, [RecipientOutcome]) {
        let first = transaction.state == .announced ? transaction.resume() : transaction.start()
        switch try perform(first, on: &transaction, onSent: nil) {
        case .ready(let mailReply, let outcomes)?: return (mailReply, outcomes)
        default: preconditionFailure("the envelope ended in state \(transaction.state.rawValue)")
        }
    }

    /// Ends a message whose bytes went after the 354: the dot (and QUIT, or
    /// RSET and `next`'s commands in the same write), `onSent`, and the
    /// server's verdict, through `transaction`. `next` is then ``announced``
    /// (unless the session closed), whatever the verdict, with RSET's reply
    /// the next to read.
    func finishMessage(
        _ transaction: inout SMTPTransaction, quitAfter: Bool, onSent: (() -> Void)?, next: SMTPTransaction? = nil
    ) throws -> SMTPReply {
        let actions: [SMTPTransaction.Action]
        var upcoming = next
        if var announcing = upcoming {
            precondition(!quitAfter, "a transaction announced behind QUIT")
            actions = transaction.messageWritten(announcing: &announcing)
            upcoming = announcing
        } else {
            actions = transaction.messageWritten(quitAfter: quitAfter)
        }
        defer {
            if let upcoming, !isClosed {
                announced = upcoming
                // The RSET ahead of it is answered right after this verdict.
                pendingResetReply = true
            }
        }
        switch try perform(actions, on: &transaction, onSent: onSent) {
        case .delivered(let reply)?: return reply
        default: preconditionFailure("the message ended in state \(transaction.state.rawValue)")
        }
    }

    /// The transaction to announce behind this message's dot for `next`
    /// (``SendOptions/next``), or nil: no PIPELINING, a BDAT transaction, or
    /// an envelope that cannot go (too large, a bad address: its own send
    /// reports that).
    func announcement(of next: SMTPEnvelope?, options: SendOptions) -> SMTPTransaction? {
        guard let next, !next.recipients.isEmpty, !isFollowingForwards else { return nil }
        let mode = TransactionPlan.mode(
            extensions: extensions, recipientCount: next.recipients.count, policy: options.policy,
            useChunking: options.useChunking)
        guard mode == .pipelinedData else { return nil }
        let lines: (mail: String, rcpts: [String])
        do {
            lines = try envelopeLines(next, size: next.parameters.size)
        } catch {
            return nil  // Not announced: the send for `next` throws this error itself.
        }
        var transaction = SMTPTransaction(
            recipients: next.recipients, mailLine: lines.mail, recipientLines: lines.rcpts, extensions: extensions,
            pipelined: true, policy: options.policy)
        transaction.tracedState = .announced
        announcedEnvelope = next
        trace?.record(.note, "transaction: announced (the next message's, behind this end of data)")
        return transaction
    }

    /// Settles a transaction announced behind the last dot that is not going
    /// on (another command comes, or a send for another envelope): reads its
    /// replies. A refusal ends it (RSET as the machine says); when its DATA
    /// got 354 the only way to deliver nothing is to close the connection,
    /// which this does, then throws.
    func settleAnnounced() throws {
        guard var transaction = announced else { return }
        announced = nil
        trace?.record(.note, "the announced transaction is not used: reading its replies")
        do {
            _ = try perform(transaction.resume(), on: &transaction, onSent: nil)
        } catch {
            // Refused by the server: the machine did what ends it (RSET).
            if transaction.state == .failed && !isClosed { return }
            close()
            throw error
        }
        close()
        throw SMTPError(
            .connection, "connection closed: the announced transaction got its 354 but was not used",
            command: "DATA", stage: .data)
    }

    /// A trace note naming the state the transaction entered, once per state
    /// (`*: transaction: rcpt`), so a trace shows where a failure happened.
    private func traceState(_ transaction: inout SMTPTransaction) {
        guard let trace, transaction.state != transaction.tracedState else { return }
        transaction.tracedState = transaction.state
        trace.record(.note, "transaction: \(transaction.state.rawValue)")
    }

    /// Performs `actions` and each next batch until the machine gives an end
    /// (ready, delivered, a chunk accepted), which is returned, or a batch
    /// awaits nothing (nil: the driver gives the next event); throws its failure.
    @discardableResult
    private func perform(
        _ first: [SMTPTransaction.Action], on transaction: inout SMTPTransaction, chunk: [UInt8] = [],
        onSent: (() -> Void)?
    ) throws -> SMTPTransaction.Action? {
        var actions = first
        while true {
            traceState(&transaction)
            var awaited: (command: String, stage: SMTPError.Stage)? = nil
            for action in actions {
                switch action {
                case .send(let line, let stage): try sendLine(line, stage: stage)
                case .awaitReply(let command, let stage): awaited = (command, stage)
                case .note(let text): trace?.record(.note, text)
                case .reset: resetQuietly()
                case .close: close()
                case .flush(let stage): try flush(stage: stage)
                case .messageSent: onSent?()
                case .sendChunk(let stage): try sendRaw(chunk, stage: stage)
                case .fail(let error):
                    traceState(&transaction)
                    throw error
                case .ready, .delivered, .chunkAccepted:
                    traceState(&transaction)
                    return action
                }
            }
            guard let awaited else { return nil }
            actions = transaction.receive(try readReply(for: awaited.command, stage: awaited.stage))
        }
    }

    /// CHUNKING with PIPELINING: envelope and chunks in one flight, replies after.
    private func sendPipelinedChunks(
        _ envelope: SMTPEnvelope, mail: String, rcpts: [String], message: MessageSource, lastInFlight: Bool,
        options: SendOptions
    ) throws -> SMTPSendResult {
        var transaction = SMTPTransaction(
            recipients: envelope.recipients, mailLine: mail, recipientLines: rcpts, extensions: extensions,
            pipelined: true, policy: options.policy, sendsData: false, followsForwards: !isFollowingForwards)
        _ = try perform(transaction.startFlight(lastInFlight: lastInFlight), on: &transaction, onSent: nil)
        let reader = message.makeReader()
        let pipelineQUIT = lastInFlight && options.quitAfter
        // A 551 is known only after the flight: keep a copy to send the
        // message to its forward path in a second transaction (not possible
        // when QUIT went in the flight: then the 551 stays the reply).
        let mayFollow =
            envelope.recipients.count > 1 && options.policy == .deliverToAccepted && !isFollowingForwards
            && !pipelineQUIT
        if mayFollow { reader.keepCopy(upTo: options.forwardCopyLimit) }
        var chunks = 0
        var total = 0
        while true {
            let (chunk, isLast) = try io(command: "BDAT", stage: .bdat) {
                try reader.nextWireChunk(maximum: options.chunkSize)
            }
            _ = try perform(
                transaction.flightChunk(size: chunk.count, last: isLast), on: &transaction, chunk: chunk, onSent: nil)
            chunks += 1
            total += chunk.count
            if isLast { break }
        }
        trace?.record(.note, "message: \(total) octets in \(chunks) chunk(s)")
        let end = try perform(
            transaction.endFlight(quit: pipelineQUIT), on: &transaction, onSent: options.onMessageSent)
        let mailReply = transaction.envelopeResult.mailReply
        var outcomes = transaction.envelopeResult.outcomes
        let forwards = mayFollow ? unfollowedForwards(outcomes) : []
        let dataReply: SMTPReply
        if case .delivered(let reply)? = end {
            dataReply = reply
            if pipelineQUIT { close() }
        } else {
            let quitNow = options.quitAfter && forwards.isEmpty
            let final = try perform(
                transaction.finalChunk(quit: quitNow), on: &transaction, onSent: options.onMessageSent)
            guard case .delivered(let reply)? = final else {
                preconditionFailure("BDAT 0 LAST ended without a verdict")
            }
            dataReply = reply
            if quitNow { close() }
        }
        if !forwards.isEmpty {
            followForwards(forwards, envelope: envelope, copy: reader.copy, options: options, into: &outcomes)
        }
        if options.quitAfter && !isClosed { quitWithoutWaiting() }
        return SMTPSendResult(mailReply: mailReply, recipients: outcomes, dataReply: dataReply)
    }

    /// Opens a message for writing (CHICKEN `smtp:open`): sends the envelope
    /// and DATA (pipelined when offered) with `options.policy` applied, and
    /// returns a writer; ``MessageWriter/close()`` ends the message and
    /// returns the result. The session must not be used until the writer is
    /// closed.
    public func openMessage(_ envelope: SMTPEnvelope, options: SendOptions = SendOptions()) throws -> MessageWriter {
        let (mail, rcpts) = try envelopeLines(envelope, size: envelope.parameters.size)
        var transaction = SMTPTransaction(
            recipients: envelope.recipients, mailLine: mail, recipientLines: rcpts, extensions: extensions,
            pipelined: extensions.pipelining, policy: options.policy, followsForwards: !isFollowingForwards)
        let (mailReply, outcomes) = try drive(&transaction)
        return MessageWriter(
            session: self, transaction: transaction, mailReply: mailReply, outcomes: outcomes, options: options)
    }
}

/// A message being written into an open DATA transaction (CHICKEN
/// `smtp:open`'s output port). Bytes are converted to CRLF and dot-stuffed as
/// they go, and written in large blocks.
public final class MessageWriter {
    private let session: SMTPSession
    private let mailReply: SMTPReply
    private let outcomes: [RecipientOutcome]
    private let options: SendOptions
    private var encoder = WireEncoder(dotStuffing: true)
    private var total = 0
    private var isFinished = false
    private var transaction: SMTPTransaction

    init(
        session: SMTPSession, transaction: SMTPTransaction, mailReply: SMTPReply, outcomes: [RecipientOutcome],
        options: SendOptions
    ) {
        self.session = session
        self.transaction = transaction
        self.mailReply = mailReply
        self.outcomes = outcomes
        self.options = options
    }

    /// The recipients' outcomes (known when the writer was opened).
    public var recipients: [RecipientOutcome] { outcomes }

    /// Appends message bytes (LF or CRLF line ends).
    public func write(_ bytes: some Sequence<UInt8>) throws {
        precondition(!isFinished, "write after close")
        var out: [UInt8] = []
        encoder.encode(bytes, into: &out)
        total += out.count
        try session.sendRaw(out, stage: .data)
    }

    /// Appends the UTF-8 bytes of `text`.
    public func write(_ text: String) throws {
        try write(text.utf8)
    }

    /// Ends the message (final CRLF if missing, then `.`), calls
    /// ``SendOptions/onMessageSent``, and reads the server's verdict.
    ///
    /// - Returns: the transaction's result.
    /// - Throws: ``SMTPError`` when the server refuses the message.
    @discardableResult
    public func close() throws -> SMTPSendResult {
        precondition(!isFinished, "MessageWriter closed twice")
        isFinished = true
        var out: [UInt8] = []
        encoder.finish(into: &out)
        total += out.count
        try session.sendRaw(out, stage: .data)
        session.trace?.record(.note, "message: \(total) octets")
        let pipelineQUIT = options.quitAfter && session.extensions.pipelining
        let reply = try session.finishMessage(&transaction, quitAfter: pipelineQUIT, onSent: options.onMessageSent)
        if options.quitAfter {
            if pipelineQUIT { session.close() } else { session.quitWithoutWaiting() }
        }
        return SMTPSendResult(mailReply: mailReply, recipients: outcomes, dataReply: reply)
    }
}

extension SMTPSession {
    /// RSET to leave the session reusable after a failed transaction; its
    /// own failure is ignored (the caller reports the first error).
    func resetQuietly() {
        if isClosed { return }
        _ = try? reset()
    }
}
