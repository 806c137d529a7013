import Testing

@testable import ApusSMTP

struct TransactionPlanTests {
    static func ext(_ keywords: String...) -> Extensions { Extensions(ehloLines: ["x"] + keywords) }

    @Test func modes() {
        #expect(
            TransactionPlan.mode(extensions: Self.ext(), recipientCount: 2, policy: .deliverToAccepted) == .lockStep)
        #expect(
            TransactionPlan.mode(extensions: Self.ext("PIPELINING"), recipientCount: 2, policy: .abortIfAnyPermanent)
                == .pipelinedData)
        #expect(
            TransactionPlan.mode(
                extensions: Self.ext("PIPELINING", "CHUNKING"), recipientCount: 2, policy: .deliverToAccepted)
                == .chunked(pipelined: true, lastInFlight: true))
        #expect(
            TransactionPlan.mode(
                extensions: Self.ext("PIPELINING", "CHUNKING"), recipientCount: 2, policy: .abortIfAnyPermanent)
                == .chunked(pipelined: true, lastInFlight: false))
        #expect(
            TransactionPlan.mode(
                extensions: Self.ext("PIPELINING", "CHUNKING"), recipientCount: 1, policy: .abortIfAnyPermanent)
                == .chunked(pipelined: true, lastInFlight: true))
        #expect(
            TransactionPlan.mode(extensions: Self.ext("CHUNKING"), recipientCount: 3, policy: .abortIfAnyPermanent)
                == .chunked(pipelined: false, lastInFlight: true))
        #expect(
            TransactionPlan.mode(
                extensions: Self.ext("PIPELINING", "CHUNKING"), recipientCount: 1, policy: .deliverToAccepted,
                useChunking: false) == .pipelinedData)
    }

    static func outcome(_ code: Int) -> RecipientOutcome {
        RecipientOutcome(recipient: "r\(code)@x", reply: SMTPReply(code: code, lines: ["x"]))
    }

    @Test func decisions() {
        let ok = Self.outcome(250)
        let hard = Self.outcome(550)
        let soft = Self.outcome(450)
        #expect(TransactionPlan.decide([ok, hard], policy: .deliverToAccepted) == .proceed)
        #expect(TransactionPlan.decide([ok, hard], policy: .abortIfAnyPermanent) == .abort)
        #expect(TransactionPlan.decide([ok, soft], policy: .abortIfAnyPermanent) == .proceed)
        #expect(TransactionPlan.decide([soft, hard], policy: .deliverToAccepted) == .abort)
        #expect(TransactionPlan.decide([soft], policy: .deliverToAccepted) == .abort)
    }
}
