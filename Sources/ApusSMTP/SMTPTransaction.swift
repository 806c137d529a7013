/// The envelope of one SMTP transaction — MAIL, every RCPT (a 551 forward
/// path followed), the rejection policy, and DATA up to its 354 — as a state
/// machine without I/O (STYLE.md "SMTP session"; swift-nio's protocol state
/// machines): each event (``start()``, ``receive(_:)``) returns the
/// ``Action``s a driver performs, in order. ``SMTPSession`` is that driver
/// for every send path that goes through an envelope: the DATA transaction,
/// pipelined or lock-step, of ``SMTPSession/send(_:message:options:)`` and
/// ``SMTPSession/openMessage(_:options:)``, and the lock-step envelope of a
/// BDAT transaction.
///
/// Pipelined (RFC 2920): MAIL, every RCPT and DATA go in one flush and the
/// replies are matched in order from a first-in-first-out list. Lock-step:
/// one command, one reply.
///
///     idle ─start→ mail → rcpt … → data ─354→ ready
///                    (pipelined: awaiting replies in order)
///     DATA refused → forwarding (551 forward paths, lock-step) → data → ready
///     any refusal → failed (RSET or close first, as the action says)
///
/// Across messages (RFC 2920 §3.1, a queue run): RSET and the next
/// transaction's MAIL, RCPTs and DATA can be announced behind this one's
/// final dot (``messageWritten(announcing:)``), in the same write; their
/// replies follow this message's verdict, and ``resume()`` awaits the next
/// transaction's in order.
///
///     idle ─announce→ announced ─resume→ mail …   (as pipelined above)
///
/// Tests drive it with replies parsed from byte arrays: no thread, no socket.
struct SMTPTransaction {
    /// Where the transaction is; the name is the trace's.
    enum State: String, Sendable {
        /// Nothing sent yet.
        case idle
        /// MAIL, RCPTs and DATA went behind the previous message's final
        /// dot; their replies follow that message's verdict.
        case announced
        /// Awaiting the reply to MAIL (lock-step), or the pipelined replies.
        case mail
        /// Awaiting a reply to RCPT (lock-step).
        case rcpt
        /// Awaiting the reply to a RCPT for a 551 forward path.
        case forwarding
        /// Awaiting the reply to DATA.
        case data
        /// Awaiting the reply to a BDAT chunk that is not the last.
        case bdat
        /// The server waits for the message (354), or for BDAT.
        case ready
        /// The message and its final dot went: awaiting the verdict.
        case endOfData
        /// The server accepted the message.
        case delivered
        /// Ended without a go-ahead: see the ``Action/fail(_:)`` returned.
        case failed
    }

    /// What the driver does, in order.
    enum Action: Sendable {
        /// Queue `line` (a reply is awaited only after a flush).
        case send(String, stage: SMTPError.Stage)
        /// Flush, read the next reply (it answers `command` at `stage`) and
        /// hand it to ``receive(_:)``.
        case awaitReply(command: String, stage: SMTPError.Stage)
        /// A trace note.
        case note(String)
        /// RSET, its failure ignored (the session stays usable).
        case reset
        /// Close the connection without QUIT (the only way to abandon a DATA
        /// that got 354 without delivering).
        case close
        /// The transaction failed: throw this.
        case fail(SMTPError)
        /// The envelope is done: the MAIL reply and each recipient's outcome.
        case ready(mailReply: SMTPReply, outcomes: [RecipientOutcome])
        /// Write out everything queued.
        case flush(stage: SMTPError.Stage)
        /// The whole message is on the wire (``SendOptions/onMessageSent``).
        case messageSent
        /// The server accepted the message with this reply.
        case delivered(SMTPReply)
        /// Queue the chunk the driver holds (after its BDAT line).
        case sendChunk(stage: SMTPError.Stage)
        /// The server took a chunk that is not the last: give the next.
        case chunkAccepted
    }

    /// What a pending reply answers.
    private enum Awaited {
        case mail
        case rcpt(Int)
        case forward(Int)
        case data, endOfData
        case chunk(last: Bool)
        case flightChunk(Int)
    }

    private let recipients: [SMTPRecipient]
    private let mailLine: String
    private let recipientLines: [String]
    private let extensions: Extensions
    private let pipelined: Bool
    private let policy: RejectionPolicy
    private let sendsData: Bool
    private let followsForwards: Bool

    /// Where the transaction is.
    private(set) var state: State = .idle
    /// The last state the driver named in the trace (its bookkeeping).
    var tracedState: State = .idle
    private var pending: [(awaited: Awaited, command: String, stage: SMTPError.Stage)] = []
    private var mailReply: SMTPReply?
    private var outcomes: [RecipientOutcome] = []
    private var dataReply: SMTPReply?
    /// Forward paths still to follow after a refused pipelined DATA.
    private var forwardsLeft: [Int] = []
    private var followedAny = false
    /// Pipelined CHUNKING: the chunks of the flight, their replies, whether
    /// LAST and QUIT went in it.
    private var flightLines: [(line: String, stage: SMTPError.Stage)] = []
    private var chunkReplies: [SMTPReply] = []
    private var lastInFlight = false
    private var quitInFlight = false

    /// The MAIL reply and each recipient's outcome, once the envelope's replies are in.
    var envelopeResult: (mailReply: SMTPReply, outcomes: [RecipientOutcome]) {
        guard let mailReply else { preconditionFailure("no MAIL reply yet") }
        return (mailReply, outcomes)
    }

    /// A transaction for `recipients`, with the MAIL and RCPT lines already
    /// made (and checked) by the session.
    ///
    /// - Parameters:
    ///   - pipelined: MAIL, RCPTs and DATA in one flight.
    ///   - sendsData: end with DATA (false: the envelope of a BDAT transaction).
    ///   - followsForwards: follow a 551 forward path with another RCPT in
    ///     lock-step (not inside the follow-up transaction for forward paths).
    init(
        recipients: [SMTPRecipient], mailLine: String, recipientLines: [String], extensions: Extensions,
        pipelined: Bool, policy: RejectionPolicy, sendsData: Bool = true, followsForwards: Bool = true
    ) {
        precondition(recipients.count == recipientLines.count)
        self.recipients = recipients
        self.mailLine = mailLine
        self.recipientLines = recipientLines
        self.extensions = extensions
        self.pipelined = pipelined
        self.policy = policy
        self.sendsData = sendsData
        self.followsForwards = followsForwards
    }

    /// The end of a message whose DATA got 354 outside a transaction of this
    /// machine (``SMTPSession/data(_:)``, ``SMTPSession/execute(_:)``).
    static func afterGoAhead(extensions: Extensions) -> SMTPTransaction {
        var transaction = SMTPTransaction(
            recipients: [], mailLine: "", recipientLines: [], extensions: extensions, pipelined: false,
            policy: .deliverToAccepted)
        transaction.state = .ready
        return transaction
    }

    /// The message went after the 354 (its bytes converted and dot-stuffed):
    /// the final dot, QUIT in the same flight when `quitAfter`, then the verdict.
    mutating func messageWritten(quitAfter: Bool) -> [Action] {
        precondition(state == .ready && sendsData, "message written in state \(state.rawValue)")
        var actions: [Action] = [.send(".", stage: .endOfData)]
        if quitAfter { actions.append(.send("QUIT", stage: .other)) }
        actions += [.flush(stage: .endOfData), .messageSent]
        return actions + [expect(.endOfData, "end of data", .endOfData)]
    }

    /// The message went after the 354: the final dot, then RSET and `next`'s
    /// MAIL, RCPTs and DATA in the same flush (RFC 2920 §3.1: the message's
    /// transfer may open a group and DATA closes it), then this message's
    /// verdict. RSET's reply, which follows the verdict, is the driver's to
    /// read (as for ``SendOptions/resetFirst``); `next` stays announced:
    /// ``resume()`` reads its replies.
    mutating func messageWritten(announcing next: inout SMTPTransaction) -> [Action] {
        precondition(state == .ready && sendsData, "message written in state \(state.rawValue)")
        var actions: [Action] = [.send(".", stage: .endOfData), .send("RSET", stage: .other)]
        actions += next.announce()
        actions += [.flush(stage: .endOfData), .messageSent]
        return actions + [expect(.endOfData, "end of data", .endOfData)]
    }

    /// The commands of a pipelined DATA transaction queued behind the
    /// previous message's final dot, without a flush and without awaiting
    /// their replies (those come after the previous verdict).
    mutating func announce() -> [Action] {
        precondition(
            state == .idle && pipelined && sendsData && !recipients.isEmpty, "announced in state \(state.rawValue)")
        state = .announced
        return pipelinedCommands()
    }

    /// MAIL, every RCPT and DATA, each awaiting its reply in order.
    private mutating func pipelinedCommands() -> [Action] {
        var actions: [Action] = [.send(mailLine, stage: .mail)]
        pending.append((.mail, mailLine, .mail))
        for (index, line) in recipientLines.enumerated() {
            actions.append(.send(line, stage: .rcpt))
            pending.append((.rcpt(index), line, .rcpt))
        }
        actions.append(.send("DATA", stage: .data))
        pending.append((.data, "DATA", .data))
        return actions
    }

    /// An announced transaction goes on: its replies, in order (the previous
    /// message's verdict has been read).
    mutating func resume() -> [Action] {
        precondition(state == .announced, "resumed in state \(state.rawValue)")
        return [awaitNext()]
    }

    /// Lock-step CHUNKING (RFC 3030) after a ``sendsData``-less envelope: one
    /// chunk of `size` octets, `BDAT size [LAST]`, its reply awaited before the next.
    mutating func chunk(size: Int, last: Bool) -> [Action] {
        precondition(state == .ready && !sendsData && !pipelined, "BDAT chunk in state \(state.rawValue)")
        let line = "BDAT \(size)" + (last ? " LAST" : "")
        let stage: SMTPError.Stage = last ? .endOfData : .bdat
        var actions: [Action] = [.send(line, stage: stage), .sendChunk(stage: stage)]
        if last { actions += [.flush(stage: stage), .messageSent] }
        return actions + [expect(.chunk(last: last), line, stage)]
    }

    /// Pipelined CHUNKING: MAIL and every RCPT open the flight; chunks
    /// (``flightChunk(size:last:)``) follow without waiting; ``endFlight(quit:)``
    /// flushes and awaits the replies. With `lastInFlight` the last chunk
    /// carries LAST; otherwise `BDAT 0 LAST` (``finalChunk(quit:)``) goes only
    /// if the replies allow (the rejection policy).
    mutating func startFlight(lastInFlight: Bool) -> [Action] {
        precondition(
            state == .idle && pipelined && !sendsData && !recipients.isEmpty, "flight in state \(state.rawValue)")
        self.lastInFlight = lastInFlight
        state = .mail
        var actions: [Action] = [.send(mailLine, stage: .mail)]
        pending.append((.mail, mailLine, .mail))
        for (index, line) in recipientLines.enumerated() {
            actions.append(.send(line, stage: .rcpt))
            pending.append((.rcpt(index), line, .rcpt))
        }
        return actions
    }

    /// One chunk of the flight, `size` octets; `last` for the message's last.
    mutating func flightChunk(size: Int, last: Bool) -> [Action] {
        precondition(state == .mail && pipelined && !sendsData, "flight chunk in state \(state.rawValue)")
        let withLast = last && lastInFlight
        let line = "BDAT \(size)" + (withLast ? " LAST" : "")
        let stage: SMTPError.Stage = withLast ? .endOfData : .bdat
        pending.append((.flightChunk(flightLines.count), line, stage))
        flightLines.append((line, stage))
        return [.send(line, stage: stage), .sendChunk(stage: stage)]
    }

    /// The flight is complete: QUIT in it when `quit`, flush, then its replies.
    mutating func endFlight(quit: Bool) -> [Action] {
        precondition(!flightLines.isEmpty, "a flight without a chunk")
        quitInFlight = quit
        var actions: [Action] = quit ? [.send("QUIT", stage: .other)] : []
        actions.append(.flush(stage: lastInFlight ? .endOfData : .bdat))
        if lastInFlight { actions.append(.messageSent) }
        return actions + [awaitNext()]
    }

    /// After a flight without LAST that the replies allow: `BDAT 0 LAST`
    /// (QUIT in the same flight when `quit`), then the verdict.
    mutating func finalChunk(quit: Bool) -> [Action] {
        precondition(
            state == .ready && pipelined && !sendsData && !lastInFlight, "final chunk in state \(state.rawValue)")
        quitInFlight = quit
        let line = "BDAT 0 LAST"
        var actions: [Action] = [.send(line, stage: .endOfData)]
        if quit { actions.append(.send("QUIT", stage: .other)) }
        actions += [.flush(stage: .endOfData), .messageSent]
        return actions + [expect(.chunk(last: true), line, .endOfData)]
    }

    /// The first commands.
    mutating func start() -> [Action] {
        precondition(state == .idle && !recipients.isEmpty, "SMTPTransaction started twice, or without recipients")
        state = .mail
        if pipelined { return pipelinedCommands() + [awaitNext()] }
        return [.send(mailLine, stage: .mail), expect(.mail, mailLine, .mail)]
    }

    /// The next reply, answering the oldest command awaiting one.
    mutating func receive(_ reply: SMTPReply) -> [Action] {
        precondition(!pending.isEmpty, "SMTPTransaction got a reply it did not await (state \(state.rawValue))")
        let (awaited, command, stage) = pending.removeFirst()
        switch awaited {
        case .mail:
            mailReply = reply
            if pipelined { return [awaitNext()] }
            guard reply.isPositive else { return fail(.unexpected(reply, command: command, stage: stage)) }
            return nextRecipient(0)
        case .rcpt(let index):
            outcomes.append(RecipientOutcome(recipient: recipients[index].address, reply: reply))
            if pipelined { return pending.isEmpty ? afterPipelinedReplies() : [awaitNext()] }
            if followsForwards, let forward = RecipientOutcome.forwardPath(in: reply) {
                if let actions = follow(forward, index: index) { return actions }
            }
            return nextRecipient(index + 1)
        case .forward(let index):
            outcomes[index].forwardReply = reply
            // Pipelined, forward paths are followed only after a refused DATA.
            return pipelined ? nextForward() : nextRecipient(index + 1)
        case .data:
            if pipelined && !dataResent {
                dataReply = reply
                return pending.isEmpty ? afterPipelinedReplies() : [awaitNext()]
            }
            guard reply.code == 354 else {
                return [.reset] + fail(.unexpected(reply, command: command, stage: stage))
            }
            return finish()
        case .endOfData:
            guard reply.isPositive else { return fail(.unexpected(reply, command: command, stage: stage)) }
            state = .delivered
            return [.delivered(reply)]
        case .flightChunk:
            chunkReplies.append(reply)
            return pending.isEmpty ? afterFlight() : [awaitNext()]
        case .chunk(let last):
            guard reply.isPositive else {
                return (quitInFlight ? [] : [.reset]) + fail(.unexpected(reply, command: command, stage: stage))
            }
            if last {
                state = .delivered
                return [.delivered(reply)]
            }
            state = .ready
            return [.chunkAccepted]
        }
    }

    // MARK: - Steps

    private mutating func expect(_ awaited: Awaited, _ command: String, _ stage: SMTPError.Stage) -> Action {
        pending.append((awaited, command, stage))
        return awaitNext()
    }

    private mutating func awaitNext() -> Action {
        guard let next = pending.first else { preconditionFailure("nothing awaited") }
        switch next.awaited {
        case .mail: state = .mail
        case .rcpt: state = pipelined ? .mail : .rcpt
        case .forward: state = .forwarding
        case .data: state = pipelined && !dataResent ? .mail : .data
        case .endOfData: state = .endOfData
        case .chunk(let last): state = last ? .endOfData : .bdat
        case .flightChunk: state = .mail
        }
        return .awaitReply(command: next.command, stage: next.stage)
    }

    /// After a CHUNKING flight's replies: MAIL refused, the policy's abort, a
    /// refused chunk (RSET first unless QUIT went in the flight), the verdict
    /// (LAST in the flight), or the go-ahead for `BDAT 0 LAST`.
    private mutating func afterFlight() -> [Action] {
        guard let mailReply else { preconditionFailure("flight replies missing") }
        let cleanup: [Action] = quitInFlight ? [] : [.reset]
        if !mailReply.isPositive {
            return cleanup + fail(.unexpected(mailReply, command: mailLine, stage: .mail))
        }
        if TransactionPlan.decide(outcomes, policy: policy) == .abort {
            return cleanup + rejected(how: lastInFlight ? "BDAT refused" : "RSET instead of BDAT 0 LAST")
        }
        for (index, reply) in chunkReplies.enumerated() where !reply.isPositive {
            return cleanup + fail(.unexpected(reply, command: flightLines[index].line, stage: flightLines[index].stage))
        }
        guard let last = chunkReplies.last else { preconditionFailure("no chunk reply") }
        if lastInFlight {
            state = .delivered
            return [.delivered(last)]
        }
        state = .ready
        return [.chunkAccepted]
    }

    /// Lock-step: RCPT for recipient `index`, or the decision after the last.
    private mutating func nextRecipient(_ index: Int) -> [Action] {
        guard index < recipients.count else { return decideThenData(how: "RSET sent") }
        return [.send(recipientLines[index], stage: .rcpt), expect(.rcpt(index), recipientLines[index], .rcpt)]
    }

    /// RCPT for the forward path of recipient `index`, or nil when the path
    /// cannot be sent (then the 551 stays the reply).
    private mutating func follow(_ forward: String, index: Int) -> [Action]? {
        guard SMTPTransaction.isSendable(forward) else { return nil }
        var moved = recipients[index]
        moved.address = forward
        let line = "RCPT TO:<\(forward)>" + moved.words(extensions: extensions).map { " " + $0 }.joined()
        outcomes[index].forwardedTo = forward
        return [
            .note("551 for <\(recipients[index].address)>: trying forward path <\(forward)>"),
            .send(line, stage: .rcpt), expect(.forward(index), line, .rcpt),
        ]
    }

    /// After the pipelined replies: MAIL refused, the go-ahead (or the
    /// policy's abort), or a refused DATA with forward paths to follow.
    private mutating func afterPipelinedReplies() -> [Action] {
        guard let mailReply, let dataReply else { preconditionFailure("pipelined replies missing") }
        if !mailReply.isPositive {
            return [dataReply.code == 354 ? .close : .reset]
                + fail(.unexpected(mailReply, command: mailLine, stage: .mail))
        }
        if dataReply.code == 354 {
            if TransactionPlan.decide(outcomes, policy: policy) == .abort {
                // The server waits for the message: the only way to deliver
                // nothing is to drop the connection before the final dot.
                return [.close] + rejected(how: "connection closed before the end of data")
            }
            return finish()
        }
        // DATA was refused (usually: no valid recipient). 551 forwards can
        // still be followed, then DATA again.
        forwardsLeft = outcomes.indices.filter { RecipientOutcome.forwardPath(in: outcomes[$0].reply) != nil }
        followedAny = !forwardsLeft.isEmpty
        return nextForward()
    }

    /// The next forward path after a refused pipelined DATA, or the decision.
    private mutating func nextForward() -> [Action] {
        while !forwardsLeft.isEmpty {
            let index = forwardsLeft.removeFirst()
            guard let forward = RecipientOutcome.forwardPath(in: outcomes[index].reply) else { continue }
            if let actions = follow(forward, index: index) { return actions }
        }
        if TransactionPlan.decide(outcomes, policy: policy) == .abort {
            return [.reset] + rejected(how: "RSET sent")
        }
        guard followedAny else {
            guard let dataReply else { preconditionFailure("no DATA reply") }
            return [.reset] + fail(.unexpected(dataReply, command: "DATA", stage: .data))
        }
        return startData()
    }

    /// The policy's decision on the recipients, then DATA (or the end of a
    /// BDAT envelope).
    private mutating func decideThenData(how: String) -> [Action] {
        if TransactionPlan.decide(outcomes, policy: policy) == .abort {
            return [.reset] + rejected(how: how)
        }
        return sendsData ? startData() : finish()
    }

    private mutating func startData() -> [Action] {
        dataResent = true
        return [.send("DATA", stage: .data), expect(.data, "DATA", .data)]
    }

    /// Set once DATA goes in lock-step (after the pipelined flight, or
    /// without pipelining): its reply must be 354.
    private var dataResent = false

    private mutating func finish() -> [Action] {
        guard let mailReply else { preconditionFailure("no MAIL reply") }
        state = .ready
        return [.ready(mailReply: mailReply, outcomes: outcomes)]
    }

    private mutating func fail(_ error: SMTPError) -> [Action] {
        state = .failed
        pending = []
        return [.fail(error)]
    }

    /// The note and error for a transaction abandoned because of its recipients.
    private mutating func rejected(how: String) -> [Action] {
        let (error, message) = SMTPTransaction.recipientsRejected(outcomes)
        return [.note("\(message) (\(how))")] + fail(error)
    }

    /// The error for a transaction abandoned because of its recipients, and its message.
    static func recipientsRejected(_ outcomes: [RecipientOutcome]) -> (SMTPError, String) {
        let losers = outcomes.filter { !$0.isAccepted }.map {
            RecipientReply(recipient: $0.recipient, reply: $0.finalReply)
        }
        let message: String
        if !outcomes.contains(where: \.isAccepted) {
            message = "no recipient was accepted"
        } else {
            message = "\(losers.filter { $0.reply.isPermanent }.count) recipient(s) refused; nothing delivered"
        }
        let error = SMTPError(
            .recipientsRejected, message, command: "RCPT TO", stage: .rcpt, reply: losers.first?.reply,
            rejectedRecipients: losers)
        return (error, message)
    }

    /// Whether `text` can go in a command (no CR, LF, NUL, `<` or `>`).
    static func isSendable(_ text: String) -> Bool {
        !text.unicodeScalars.contains { $0 == "\r" || $0 == "\n" || $0 == "\0" || $0 == "<" || $0 == ">" }
    }
}
