import Testing

@testable import ApusSMTP

/// Pipelining across messages (RFC 2920 §3.1) in the state machine: the next
/// transaction's MAIL, RCPTs and DATA announced behind this message's final
/// dot, replies matched in order. Driven with replies parsed from byte arrays.
@Suite struct SMTPTransactionAnnouncedTests {
    typealias T = SMTPTransactionTests

    /// A transaction whose DATA got 354 (ready for the message).
    static func ready(_ recipients: [String] = ["b@y"]) throws -> SMTPTransaction {
        var m = T.machine(recipients, pipelined: true)
        _ = m.start()
        let replies = String(repeating: "250 ok\r\n", count: recipients.count + 1) + "354 go\r\n"
        #expect(try T.feed(&m, replies) == ["ready 250 \(recipients.map { _ in 250 })"])
        return m
    }

    /// The next message's transaction, to `recipients`, from `<n@x>`.
    static func next(_ recipients: [String] = ["c@y"]) -> SMTPTransaction {
        SMTPTransaction(
            recipients: recipients.map { SMTPRecipient($0) }, mailLine: "MAIL FROM:<n@x>",
            recipientLines: recipients.map { "RCPT TO:<\($0)>" }, extensions: Extensions(), pipelined: true,
            policy: .deliverToAccepted)
    }

    @Test func theNextEnvelopeGoesInTheSameFlushAsTheDotAndDATAClosesTheGroup() throws {
        var m = try Self.ready()
        var next = Self.next(["c@y", "d@y"])
        #expect(
            T.describe(m.messageWritten(announcing: &next)) == [
                "send .", "send RSET", "send MAIL FROM:<n@x>", "send RCPT TO:<c@y>", "send RCPT TO:<d@y>",
                "send DATA", "flush",
                "sent", "await end of data endOfData",
            ])
        #expect(next.state == .announced)
        // This message's verdict comes first, then (RSET's reply, the driver's) the next one's replies in order.
        #expect(try T.feed(&m, "250 2.0.0 queued as 1\r\n") == ["delivered"])
        #expect(T.describe(next.resume()) == ["await MAIL FROM:<n@x> mail"])
        #expect(try T.feed(&next, "250 ok\r\n250 ok\r\n") == ["await RCPT TO:<d@y> rcpt"])
        #expect(try T.feed(&next, "250 ok\r\n354 go\r\n") == ["ready 250 [250, 250]"])
        // And the next message can announce the one after it.
        var third = Self.next()
        #expect(
            T.describe(next.messageWritten(announcing: &third)).prefix(3) == [
                "send .", "send RSET", "send MAIL FROM:<n@x>",
            ])
    }

    @Test(arguments: ["451 4.3.0 try later", "554 5.6.0 content refused"])
    func aRefusedEndOfDataFailsThisMessageOnlyAndTheNextGoesOn(verdict: String) throws {
        var m = try Self.ready()
        var next = Self.next()
        _ = m.messageWritten(announcing: &next)
        let code = Int(verdict.prefix(3)) ?? 0
        let kind = code >= 500 ? "permanentReply" : "transientReply"
        #expect(try T.feed(&m, verdict + "\r\n") == ["fail \(kind) endOfData \(code)"])
        #expect(m.state == .failed)
        _ = next.resume()
        #expect(try T.feed(&next, "250 ok\r\n250 ok\r\n354 go\r\n") == ["ready 250 [250]"])
        #expect(next.state == .ready)
    }

    @Test func theNextMailRefusedFailsTheNextOnly() throws {
        var m = try Self.ready()
        var next = Self.next()
        _ = m.messageWritten(announcing: &next)
        #expect(try T.feed(&m, "250 queued\r\n") == ["delivered"])
        _ = next.resume()
        #expect(
            try T.feed(&next, "550 5.7.1 sender refused\r\n503 5.5.1 no MAIL\r\n503 5.5.1 no MAIL\r\n") == [
                "reset", "fail permanentReply mail 550",
            ])
    }

    @Test func theNextRecipientsAllRefusedFailsTheNextOnly() throws {
        var m = try Self.ready()
        var next = Self.next(["c@y", "d@y"])
        _ = m.messageWritten(announcing: &next)
        #expect(try T.feed(&m, "250 queued\r\n") == ["delivered"])
        _ = next.resume()
        #expect(
            try T.feed(&next, "250 ok\r\n550 5.1.1 no\r\n450 4.2.0 later\r\n554 5.5.1 no valid recipients\r\n") == [
                "reset", "note no recipient was accepted (RSET sent)", "fail recipientsRejected rcpt 550",
            ])
    }
}
