import Testing

@testable import ApusSMTP

/// The envelope state machine driven with replies parsed from byte arrays:
/// no thread, no socket, no timeout.
@Suite struct SMTPTransactionTests {
    /// Replies as a server would send them, parsed by the session's parser.
    static func replies(_ text: String) throws -> [SMTPReply] {
        var parser = ReplyParser()
        var buffer = ArraySlice(Array(text.utf8))
        var result: [SMTPReply] = []
        while let reply = try parser.parse(&buffer) { result.append(reply) }
        #expect(buffer.isEmpty)
        return result
    }

    /// A ``machine(_:pipelined:policy:sendsData:)`` that has started (its first commands taken).
    static func started(
        _ recipients: [String], pipelined: Bool, policy: RejectionPolicy = .deliverToAccepted, sendsData: Bool = true
    ) -> SMTPTransaction {
        var m = machine(recipients, pipelined: pipelined, policy: policy, sendsData: sendsData)
        _ = m.start()
        return m
    }

    static func machine(
        _ recipients: [String], pipelined: Bool, policy: RejectionPolicy = .deliverToAccepted, sendsData: Bool = true
    ) -> SMTPTransaction {
        SMTPTransaction(
            recipients: recipients.map { SMTPRecipient($0) }, mailLine: "MAIL FROM:<a@x>",
            recipientLines: recipients.map { "RCPT TO:<\($0)>" }, extensions: Extensions(), pipelined: pipelined,
            policy: policy, sendsData: sendsData)
    }

    /// What the actions say, as text: "send MAIL FROM:<a@x>", "await RCPT TO:<b@y> rcpt", "ready 250 [250]"…
    static func describe(_ actions: [SMTPTransaction.Action]) -> [String] {
        actions.map { action in
            switch action {
            case .send(let line, _): return "send \(line)"
            case .awaitReply(let command, let stage): return "await \(command) \(stage)"
            case .note(let text): return "note \(text)"
            case .reset: return "reset"
            case .close: return "close"
            case .fail(let error):
                return "fail \(error.kind) \(error.stage.map { "\($0)" } ?? "-") \(error.reply?.code ?? 0)"
            case .ready(let mail, let outcomes): return "ready \(mail.code) \(outcomes.map(\.finalReply.code))"
            case .flush: return "flush"
            case .messageSent: return "sent"
            case .delivered: return "delivered"
            case .sendChunk: return "chunk"
            case .chunkAccepted: return "next chunk"
            }
        }
    }

    /// Feeds every reply of `text`; returns the actions of the last.
    static func feed(_ machine: inout SMTPTransaction, _ text: String) throws -> [String] {
        var last: [SMTPTransaction.Action] = []
        for reply in try replies(text) { last = machine.receive(reply) }
        return describe(last)
    }

    @Test func pipelinedFlightThenGoAhead() throws {
        var m = Self.machine(["b@y", "c@y"], pipelined: true)
        #expect(
            Self.describe(m.start()) == [
                "send MAIL FROM:<a@x>", "send RCPT TO:<b@y>", "send RCPT TO:<c@y>", "send DATA",
                "await MAIL FROM:<a@x> mail",
            ])
        #expect(m.state == .mail)
        #expect(try Self.feed(&m, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n") == ["await RCPT TO:<c@y> rcpt"])
        #expect(try Self.feed(&m, "550 5.1.1 no\r\n") == ["await DATA data"])
        #expect(try Self.feed(&m, "354 go\r\n") == ["ready 250 [250, 550]"])
        #expect(m.state == .ready)
    }

    @Test func pipelinedAbortAfter354ClosesWithoutTheDot() throws {
        var m = Self.started(["b@y", "c@y"], pipelined: true, policy: .abortIfAnyPermanent)
        #expect(
            try Self.feed(&m, "250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go\r\n") == [
                "close", "note 1 recipient(s) refused; nothing delivered (connection closed before the end of data)",
                "fail recipientsRejected rcpt 550",
            ])
        #expect(m.state == .failed)
    }

    @Test func pipelinedMailRefused() throws {
        var m = Self.started(["b@y"], pipelined: true)
        #expect(
            try Self.feed(&m, "451 4.3.0 later\r\n503 no\r\n503 no\r\n") == ["reset", "fail transientReply mail 451"])
        var n = Self.started(["b@y"], pipelined: true)
        #expect(try Self.feed(&n, "550 no\r\n250 ok\r\n354 go\r\n") == ["close", "fail permanentReply mail 550"])
    }

    /// DATA refused after a 551: the forward path in lock-step, then DATA again.
    @Test func pipelinedRefusedDataFollowsForwardPaths() throws {
        var m = Self.started(["old@y"], pipelined: true)
        #expect(
            try Self.feed(&m, "250 ok\r\n551 5.1.6 try <new@z>\r\n554 5.5.1 no valid recipients\r\n") == [
                "note 551 for <old@y>: trying forward path <new@z>", "send RCPT TO:<new@z>",
                "await RCPT TO:<new@z> rcpt",
            ])
        #expect(m.state == .forwarding)
        #expect(try Self.feed(&m, "250 ok\r\n") == ["send DATA", "await DATA data"])
        #expect(try Self.feed(&m, "354 go\r\n") == ["ready 250 [250]"])
        var n = Self.started(["b@y"], pipelined: true)
        #expect(
            try Self.feed(&n, "250 ok\r\n550 no\r\n554 no valid recipients\r\n") == [
                "reset", "note no recipient was accepted (RSET sent)", "fail recipientsRejected rcpt 550",
            ])
    }

    @Test func lockStepOneCommandAtATime() throws {
        var m = Self.machine(["b@y", "c@y"], pipelined: false)
        #expect(Self.describe(m.start()) == ["send MAIL FROM:<a@x>", "await MAIL FROM:<a@x> mail"])
        #expect(try Self.feed(&m, "250 ok\r\n") == ["send RCPT TO:<b@y>", "await RCPT TO:<b@y> rcpt"])
        #expect(m.state == .rcpt)
        #expect(
            try Self.feed(&m, "551 not here; try <b2@z>\r\n") == [
                "note 551 for <b@y>: trying forward path <b2@z>", "send RCPT TO:<b2@z>", "await RCPT TO:<b2@z> rcpt",
            ])
        #expect(try Self.feed(&m, "250 ok\r\n") == ["send RCPT TO:<c@y>", "await RCPT TO:<c@y> rcpt"])
        #expect(try Self.feed(&m, "250 ok\r\n") == ["send DATA", "await DATA data"])
        #expect(try Self.feed(&m, "451 not now\r\n") == ["reset", "fail transientReply data 451"])
    }

    @Test func lockStepMailRefusedAndBDATEnvelope() throws {
        var m = Self.started(["b@y"], pipelined: false)
        #expect(try Self.feed(&m, "550 5.7.1 go away\r\n") == ["fail permanentReply mail 550"])
        var b = Self.started(["b@y"], pipelined: false, sendsData: false)
        _ = try Self.feed(&b, "250 ok\r\n")
        #expect(try Self.feed(&b, "250 ok\r\n") == ["ready 250 [250]"])
        var c = Self.started(["b@y"], pipelined: false, policy: .abortIfAnyPermanent, sendsData: false)
        _ = try Self.feed(&c, "250 ok\r\n")
        #expect(
            try Self.feed(&c, "550 no\r\n") == [
                "reset", "note no recipient was accepted (RSET sent)", "fail recipientsRejected rcpt 550",
            ])
    }
}

extension SMTPTransactionTests {
    /// After the 354: the dot (QUIT in the same flight when asked), the
    /// message-sent hook, then the verdict.
    @Test func endOfDataAndVerdict() throws {
        var m = Self.started(["b@y"], pipelined: true)
        _ = try Self.feed(&m, "250 ok\r\n250 ok\r\n354 go\r\n")
        let actions = m.messageWritten(quitAfter: true)
        #expect(actions.count == 5)
        #expect(
            Self.describe([actions[0], actions[1], actions[4]]) == [
                "send .", "send QUIT", "await end of data endOfData",
            ])
        #expect(m.state == .endOfData)
        #expect(try Self.feed(&m, "250 2.0.0 queued as X\r\n") == ["delivered"])
        #expect(m.state == .delivered)
        var n = SMTPTransaction.afterGoAhead(extensions: Extensions())
        _ = n.messageWritten(quitAfter: false)
        #expect(try Self.feed(&n, "554 5.7.1 spam\r\n") == ["fail permanentReply endOfData 554"])
    }
}

extension SMTPTransactionTests {
    /// Lock-step CHUNKING: each BDAT line, its chunk, its reply; LAST ends the message.
    @Test func lockStepChunks() throws {
        var m = Self.started(["b@y"], pipelined: false, sendsData: false)
        _ = try Self.feed(&m, "250 ok\r\n")
        #expect(try Self.feed(&m, "250 ok\r\n") == ["ready 250 [250]"])
        #expect(Self.describe(m.chunk(size: 10, last: false)) == ["send BDAT 10", "chunk", "await BDAT 10 bdat"])
        #expect(m.state == .bdat)
        #expect(try Self.feed(&m, "250 2.0.0 10 octets\r\n") == ["next chunk"])
        #expect(
            Self.describe(m.chunk(size: 3, last: true)) == [
                "send BDAT 3 LAST", "chunk", "flush", "sent", "await BDAT 3 LAST endOfData",
            ])
        #expect(try Self.feed(&m, "250 2.0.0 queued\r\n") == ["delivered"])
        var n = Self.started(["b@y"], pipelined: false, sendsData: false)
        _ = try Self.feed(&n, "250 ok\r\n250 ok\r\n")
        _ = n.chunk(size: 5, last: false)
        #expect(try Self.feed(&n, "552 5.3.4 too big\r\n") == ["reset", "fail permanentReply bdat 552"])
    }
}

extension SMTPTransactionTests {
    /// Pipelined CHUNKING: envelope and chunks in one flight, replies after.
    @Test func chunkingFlight() throws {
        var m = Self.machine(["b@y", "c@y"], pipelined: true, sendsData: false)
        #expect(
            Self.describe(m.startFlight(lastInFlight: true)) == [
                "send MAIL FROM:<a@x>", "send RCPT TO:<b@y>", "send RCPT TO:<c@y>",
            ])
        #expect(Self.describe(m.flightChunk(size: 4, last: false)) == ["send BDAT 4", "chunk"])
        #expect(Self.describe(m.flightChunk(size: 2, last: true)) == ["send BDAT 2 LAST", "chunk"])
        #expect(
            Self.describe(m.endFlight(quit: true)) == [
                "send QUIT", "flush", "sent", "await MAIL FROM:<a@x> mail",
            ])
        #expect(try Self.feed(&m, "250 ok\r\n250 ok\r\n550 no\r\n250 ok\r\n250 2.0.0 queued\r\n") == ["delivered"])
        #expect(m.envelopeResult.outcomes.map(\.reply.code) == [250, 550])

        // Without LAST in the flight, the policy decides whether BDAT 0 LAST goes.
        var a = Self.machine(["b@y", "c@y"], pipelined: true, policy: .abortIfAnyPermanent, sendsData: false)
        _ = a.startFlight(lastInFlight: false)
        _ = a.flightChunk(size: 3, last: true)
        _ = a.endFlight(quit: false)
        #expect(
            try Self.feed(&a, "250 ok\r\n250 ok\r\n550 no\r\n250 ok\r\n") == [
                "reset", "note 1 recipient(s) refused; nothing delivered (RSET instead of BDAT 0 LAST)",
                "fail recipientsRejected rcpt 550",
            ])
        var b = Self.machine(["b@y"], pipelined: true, policy: .abortIfAnyPermanent, sendsData: false)
        _ = b.startFlight(lastInFlight: false)
        _ = b.flightChunk(size: 3, last: true)
        _ = b.endFlight(quit: false)
        #expect(try Self.feed(&b, "250 ok\r\n250 ok\r\n250 ok\r\n") == ["next chunk"])
        #expect(
            Self.describe(b.finalChunk(quit: true)) == [
                "send BDAT 0 LAST", "send QUIT", "flush", "sent", "await BDAT 0 LAST endOfData",
            ])
        #expect(try Self.feed(&b, "554 5.7.1 no\r\n") == ["fail permanentReply endOfData 554"])

        // A refused chunk with QUIT in the flight: no RSET.
        var c = Self.machine(["b@y"], pipelined: true, sendsData: false)
        _ = c.startFlight(lastInFlight: true)
        _ = c.flightChunk(size: 3, last: true)
        _ = c.endFlight(quit: true)
        #expect(try Self.feed(&c, "250 ok\r\n250 ok\r\n552 5.3.4 too big\r\n") == ["fail permanentReply endOfData 552"])
    }
}
