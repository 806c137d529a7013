import ApusTestSupport
import Foundation
import Testing

/// "No mail is ever lost": a temporary failure at any step of the submission
/// queues the message (exit 0, `apus: queued ID: reason`), and a later run
/// delivers it exactly once; partial acceptance, permanent failures in a run
/// (failure notices), expiry.
@Suite struct QueueFailureTests {
    /// Where the first attempt fails.
    struct Step: Sendable, CustomTestStringConvertible {
        var name: String
        /// The verb scripted on the first connection (nil: connection refused).
        var verb: String?
        var response: ScriptedResponse = .disconnect
        /// Offer CHUNKING (the message goes with BDAT) instead of DATA.
        var chunking = false
        /// What the queued reason must contain.
        var reason: String
        var testDescription: String { name }
    }

    static let steps: [Step] = [
        Step(name: "connection refused", verb: nil, reason: "Connection refused"),
        Step(name: "banner 421", verb: "CONNECT", response: .replyThenDisconnect("421 4.3.2 busy"), reason: "421"),
        Step(name: "EHLO 451", verb: "EHLO", response: "451 4.3.0 try later", reason: "451"),
        Step(name: "MAIL 451", verb: "MAIL", response: "451 4.3.0 mail later", reason: "451"),
        Step(name: "RCPT 450", verb: "RCPT", response: "450 4.2.1 mailbox busy", reason: "450"),
        Step(name: "DATA 451", verb: "DATA", response: "451 4.3.0 data later", reason: "451"),
        Step(name: "451 after the data", verb: ".", response: "451 4.3.0 queue full", reason: "451"),
        Step(name: "BDAT 452", verb: "BDAT", response: "452 4.3.1 no space", chunking: true, reason: "452"),
        Step(
            name: "drop mid-data", verb: "DATA", response: .sequence([.reply("354 go ahead"), .disconnect]),
            reason: "127.0.0.1"),
        Step(name: "drop after the data", verb: ".", response: .disconnect, reason: "127.0.0.1"),
        Step(name: "hang after MAIL (timeout)", verb: "MAIL", response: .hang, reason: "127.0.0.1"),
    ]

    @Test(arguments: steps)
    func temporaryFailureQueuesAndALaterRunDeliversOnce(step: Step) throws {
        let harness = try QueueHarness()
        let server = try dataServer { configuration in
            if step.chunking { configuration.extensions.append("CHUNKING") }
            if let verb = step.verb { configuration.on(verb, connection: 1, step.response) }
        }
        defer { server.stop() }
        let up = try harness.config(port: server.port, timeout: "2")
        let submitConfig = step.verb == nil ? try harness.downConfig() : up

        let started = Date()
        let submitted = try harness.submit(submitConfig, subject: "step-\(step.name)")
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let queued = try #require(parseQueuedLine(submitted), "stderr: \(submitted.stderr)")
        #expect(queued.reason.contains(step.reason), "\(queued.reason)")
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(try harness.visibleIDs() == [queued.id])
        #expect(acceptedSubjects(server).isEmpty)
        #expect(harness.log().contains("\(queued.id): from=<"))
        #expect(harness.log().contains("status=deferred"))

        let listed = try harness.mailqJSON(up)
        #expect(listed.count == 1)
        #expect(listed.first?["queue_id"] as? String == queued.id)

        let run = try harness.runQueue(up)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.isEmpty)
        #expect(acceptedSubjects(server) == ["step-\(step.name)": 1])
        #expect(try harness.queueFiles().isEmpty)
        #expect(harness.log().contains("\(queued.id): from=<") && harness.log().contains("status=sent"))

        // Nothing left to send: another run does not even connect.
        let connections = server.connections.count
        let again = try harness.runQueue(up)
        #expect(again.status == 0)
        #expect(server.connections.count == connections)
        #expect(acceptedSubjects(server) == ["step-\(step.name)": 1])
    }

    @Test func someRecipientsDeferredGetItLaterTheOthersNeverAgain() throws {
        let harness = try QueueHarness()
        let server = try dataServer { $0.on("RCPT", occurrence: 2, connection: 1, "451 4.2.0 b is busy") }
        defer { server.stop() }
        let config = try harness.config(port: server.port)
        let recipients = ["a@example.com", "b@example.com", "c@example.com"]
        let submitted = try harness.submit(config, subject: "partial", to: recipients)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let queued = try #require(parseQueuedLine(submitted), "stderr: \(submitted.stderr)")
        #expect(queued.reason.contains("<b@example.com>") && queued.reason.contains("451"), "\(queued.reason)")
        #expect(!queued.reason.contains("a@example.com") && !queued.reason.contains("c@example.com"))
        #expect(server.messages.map(\.recipientAddresses) == [["a@example.com", "c@example.com"]])

        let listed = try harness.mailqJSON(config)
        let pending = (listed.first?["recipients"] as? [[String: Any]])?.compactMap { $0["address"] as? String }
        #expect(pending == ["b@example.com"])
        let envelope = try harness.envelope(queued.id)
        #expect(envelope.contains("rcpt: sent a@example.com"), "\(envelope)")
        #expect(envelope.contains("rcpt: pending b@example.com"), "\(envelope)")

        let run = try harness.runQueue(config)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(server.messages.count == 2)
        #expect(server.messages.last?.recipientAddresses == ["b@example.com"])
        #expect(server.messages.allSatisfy { $0.accepted })
        #expect(try harness.queueFiles().isEmpty)
    }

    @Test func partialProgressOfARunSurvivesTheNextProcess() throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        let recipients = ["a@example.com", "b@example.com", "c@example.com"]
        let submitted = try harness.submit(down, subject: "progress", to: recipients)
        let queued = try #require(parseQueuedLine(submitted), "stderr: \(submitted.stderr)")

        // First run: c is deferred, a and b are accepted.
        let first = try dataServer { $0.on("RCPT", occurrence: 3, "452 4.2.2 c over quota") }
        let firstConfig = try harness.config("first.conf", port: first.port)
        #expect(try harness.runQueue(firstConfig).status == 0)
        first.stop()
        #expect(first.messages.map(\.recipientAddresses) == [["a@example.com", "b@example.com"]])
        let envelope = try harness.envelope(queued.id)
        #expect(envelope.contains("rcpt: sent a@example.com") && envelope.contains("rcpt: sent b@example.com"))
        #expect(envelope.contains("rcpt: pending c@example.com") && envelope.contains("attempts: 2"), "\(envelope)")
        let listed = try harness.mailqJSON(firstConfig)
        let reason = (listed.first?["recipients"] as? [[String: Any]])?.first?["delay_reason"] as? String
        #expect(reason?.contains("452") == true, "\(String(describing: reason))")

        // A new process, a new relay: only c.
        let second = try dataServer()
        defer { second.stop() }
        let secondConfig = try harness.config("second.conf", port: second.port)
        #expect(try harness.runQueue(secondConfig).status == 0)
        #expect(second.messages.map(\.recipientAddresses) == [["c@example.com"]])
        #expect(try harness.queueFiles().isEmpty)
    }

    /// A permanent refusal in a run: the failed recipient gets a notice, queued
    /// and sent in the same run over the same connection, from `<>` to the
    /// sender; the others get the message; the queue ends empty.
    @Test func permanentRefusalInARunSendsAFailureNoticeInTheSameRun() throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        let submitted = try harness.submit(
            down, subject: "refused-later", to: ["good@example.com", "bad@example.com"], sender: "owner@test.example")
        let queued = try #require(parseQueuedLine(submitted), "stderr: \(submitted.stderr)")
        try backdate(harness, queued.id, by: 10)  // due for -q

        let server = try dataServer { $0.on("RCPT", occurrence: 2, "550 5.1.1 <bad@example.com>: no such user") }
        defer { server.stop() }
        let config = try harness.config(port: server.port)
        let run = try harness.runQueue(config, ["-q"])
        #expect(run.status == 0 && run.stderr.isEmpty, "\(run.stderr)")
        #expect(
            server.messages.filter(\.accepted).map(\.recipientAddresses) == [
                ["good@example.com"], ["owner@test.example"],
            ])
        #expect(server.connections.count == 1, "the notice goes over the open connection")
        #expect(harness.log().contains("to=<bad@example.com>") && harness.log().contains("status=bounced"))
        #expect(try harness.queueFiles().isEmpty)
        #expect(try harness.mailqJSON(config).isEmpty)

        let notice = try #require(server.messages.last)
        #expect(notice.sender == "" && notice.mailFrom.hasPrefix("<>"))
        #expect(notice.recipientAddresses == ["owner@test.example"])
        #expect(harness.log().contains("to=<owner@test.example>") && !harness.log().contains("\(queued.id): from=<>"))
        let facts = try parseNotice(notice.data)
        #expect(facts.contentType == "multipart/report")
        #expect(facts.reportType == "delivery-status")
        #expect(facts.partTypes == ["text/plain", "message/delivery-status", "text/rfc822-headers"])
        #expect(facts.finalRecipients == ["rfc822; bad@example.com"])
        #expect(facts.actions == ["failed"])
        #expect(facts.statuses == ["5.1.1"])
        #expect(facts.originalSubject == "refused-later")
    }

    @Test(arguments: ["MAIL", "."])
    func permanentRefusalOfTheMessageInARunFailsEveryRecipient(verb: String) throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        _ = try harness.submit(
            down, subject: "refused-\(verb)", to: ["x@example.com", "y@example.com"], sender: "me@test.example")
        let server = try dataServer { $0.on(verb, occurrence: 1, connection: 1, "554 5.7.1 go away") }
        defer { server.stop() }
        let config = try harness.config(port: server.port)
        #expect(try harness.runQueue(config).status == 0)
        #expect(try harness.mailqJSON(config).isEmpty, "the notice went in the same run")
        let notice = try #require(server.messages.last { $0.accepted })
        #expect(notice.recipientAddresses == ["me@test.example"])
        let facts = try parseNotice(notice.data)
        #expect(facts.finalRecipients.sorted() == ["rfc822; x@example.com", "rfc822; y@example.com"])
        #expect(facts.statuses == ["5.7.1", "5.7.1"])
        #expect(try harness.queueFiles().isEmpty)
    }

    @Test(arguments: [false, true])
    func noNoticeForANullSenderOrWithBounceOff(bounceOff: Bool) throws {
        let harness = try QueueHarness()
        let extra = bounceOff ? ["bounce off"] : []
        let down = try harness.downConfig(extra: extra)
        let submitted = try harness.submit(down, subject: "no-notice", sender: bounceOff ? "me@test.example" : "<>")
        #expect(parseQueuedLine(submitted) != nil, "\(submitted.stderr)")
        let server = try dataServer { $0.on("RCPT", "550 5.1.1 no such user") }
        defer { server.stop() }
        let config = try harness.config(port: server.port, extra: extra)
        #expect(try harness.runQueue(config).status == 0)
        #expect(harness.log().contains("status=bounced"))
        #expect(try harness.queueFiles().isEmpty)
        #expect(try harness.runQueue(config).status == 0)
        #expect(server.messages.filter(\.accepted).isEmpty)
    }

    /// `queue_lifetime 1s` and a relay that answered 451: the run expires the
    /// message and sends its notice at once (the notice itself is tried before
    /// it can expire); the queue ends empty.
    @Test func anExpiredMessageFailsWithANoticeSentInTheSameRun() throws {
        let harness = try QueueHarness()
        let server = try dataServer { $0.on("RCPT", connection: 1, "451 4.3.0 try later") }
        defer { server.stop() }
        let expiring = try harness.config("expiring.conf", port: server.port, lifetime: "1s")
        let submitted = try harness.submit(expiring, subject: "expiring", sender: "me@test.example")
        let queued = try #require(parseQueuedLine(submitted), "stderr: \(submitted.stderr)")
        #expect(queued.reason.contains("451"))
        try backdate(harness, queued.id, by: 10)

        let run = try harness.runQueue(expiring, ["-q"])
        #expect(run.status == 0 && run.stderr.isEmpty, "\(run.stderr)")
        #expect(harness.log().contains("\(queued.id):") && harness.log().contains("status=bounced"))
        #expect(try harness.queueFiles().isEmpty)
        let accepted = server.messages.filter(\.accepted)
        #expect(accepted.count == 1, "the message is not tried again; only its notice goes")
        let notice = try #require(accepted.first)
        #expect(notice.sender == "" && notice.recipientAddresses == ["me@test.example"])
        let facts = try parseNotice(notice.data)
        #expect(facts.statuses == ["4.4.7"])
        #expect(facts.actions == ["failed"])
        #expect(facts.originalSubject == "expiring")
    }
}

/// Moves a queued message's arrival and next attempt `seconds` into the past
/// (as if it had waited that long: due now, older than the others).
func backdate(_ harness: QueueHarness, _ id: String, by seconds: Int) throws {
    let text = try harness.envelope(id)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
        for key in ["arrival: ", "next-attempt: "] where line.hasPrefix(key) {
            if let value = Int(line.dropFirst(key.count)) { return key + "\(value - seconds)" }
        }
        return String(line)
    }
    try harness.replaceEnvelope(id, lines.joined(separator: "\n"))
}
