import ApusTestSupport
import Foundation
import Testing

/// Queue runs pipelined across messages (RFC 2920 §3.1): with PIPELINING
/// RSET and the next message's MAIL, RCPT and DATA go in the same write as
/// the current message's final dot. Each message still leaves the queue only after its
/// own 250, and a failure stays with the message it belongs to.
@Suite struct QueuePipeliningTests {
    /// Queues `count` messages (relay down) from `sender`; returns the ids by subject.
    static func queue(
        _ harness: QueueHarness, _ count: Int, prefix: String, sender: String = "me@test.example"
    ) throws -> [String: String] {
        let down = try harness.downConfig()
        var ids: [String: String] = [:]
        for index in 0..<count {
            let subject = "\(prefix)-\(index)"
            // A line that starts with a dot (stuffed on the wire) and a body unique to the message.
            let body = "message \(index)\n.dot line \(index)\n\(String(repeating: "x", count: index * 13))\nend\n"
            let run = try harness.submit(down, subject: subject, sender: sender, body: body)
            let queued = try #require(parseQueuedLine(run), "stderr: \(run.stderr)")
            ids[subject] = queued.id
        }
        #expect(try harness.visibleIDs().count == count)
        return ids
    }

    /// LF line ends (smtp-sink and Maildir store LF).
    static func lf(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
    }

    @Test(arguments: ["smtp-sink", "postfix"])
    func fiftyQueuedMessagesArriveOnceEachByteForByte(relay: String) throws {
        let harness = try QueueHarness()
        let ids = try Self.queue(harness, 50, prefix: "pipelined")
        var queued: [String: String] = [:]
        for (subject, id) in ids { queued[subject] = Self.lf(try harness.content(id)) }

        var arrived: [String] = []
        if relay == "smtp-sink" {
            let sink = try SMTPSink(saveMessages: true)
            defer { sink.stop() }
            let run = try harness.runQueue(try harness.config(port: sink.port))
            #expect(run.status == 0 && run.stderr.isEmpty, "\(run.stderr)")
            arrived = try sink.waitForMessages(50, timeout: 15).map { Self.lf($0.content) }
        } else {
            var options = InteropTests.options
            // Without CHUNKING the queue run goes by DATA, pipelined across messages.
            options.extraMainSettings.append("smtpd_discard_ehlo_keywords = chunking")
            let postfix = try PostfixServer.start(options)
            defer { postfix.stop() }
            let run = try harness.runQueue(try harness.config(port: postfix.submissionPort))
            #expect(run.status == 0 && run.stderr.isEmpty, "\(run.stderr)")
            arrived = try postfix.waitForMessages(count: 50, timeout: 30).map { Self.lf($0.bytes) }
        }
        var counts: [String: Int] = [:]
        for text in arrived {
            let subject = subjectHeader(of: text) ?? ""
            counts[subject, default: 0] += 1
            let sent = try #require(queued[subject], "an unknown message arrived: \(subject)")
            // Everything apus sent (header block and body) arrived as queued;
            // the relay only adds its own trace fields in front.
            #expect(text.hasSuffix(sent), "\(subject) differs")
        }
        #expect(counts.count == 50 && counts.values.allSatisfy { $0 == 1 }, "\(counts.filter { $0.value != 1 })")
        #expect(try harness.queueFiles().isEmpty)
    }

    @Test func theNextEnvelopeTravelsInTheSameWriteAsTheDot() throws {
        let harness = try QueueHarness()
        _ = try Self.queue(harness, 3, prefix: "write")
        let server = try dataServer()
        defer { server.stop() }
        let run = try harness.runQueue(try harness.config(port: server.port), ["-qf", "-v"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(acceptedSubjects(server) == ["write-0": 1, "write-1": 1, "write-2": 1])
        #expect(server.connections.count == 1)
        let connection = try #require(server.connections.first)
        let joined = connection.reads.filter { read in
            let text = String(decoding: read, as: UTF8.self)
            return text.contains("\r\n.\r\nRSET\r\nMAIL FROM:<me@test.example>") && text.hasSuffix("\r\nDATA\r\n")
        }
        #expect(joined.count == 2, "the dot of messages 1 and 2, each with RSET and the next envelope")
        #expect(
            connection.verbs == [
                "EHLO", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA", "QUIT",
            ])
        #expect(try harness.queueFiles().isEmpty)
    }

    @Test(arguments: ["451 4.3.0 try again later", "554 5.6.0 content refused"])
    func aRefusedEndOfDataStaysWithItsMessage(verdict: String) throws {
        let harness = try QueueHarness()
        let ids = try Self.queue(harness, 3, prefix: "verdict")
        let server = try dataServer { $0.on(".", occurrence: 2, connection: 1, .reply(verdict)) }
        defer { server.stop() }
        let config = try harness.config(port: server.port)
        let run = try harness.runQueue(config)
        let refused = try #require(server.connections.first?.messages.dropFirst().first)
        #expect(!refused.accepted)
        let subject = try #require(subjectHeader(of: refused.text))
        let others = Set(ids.keys).subtracting([subject])
        let accepted = acceptedSubjects(server)
        for other in others { #expect(accepted[other] == 1, "\(other) arrives once") }
        #expect(accepted[subject] == nil)
        if verdict.hasPrefix("4") {
            #expect(run.status == 0, "\(run.stderr)")
            // Deferred: it alone stays queued, with the reply.
            #expect(try harness.visibleIDs() == [try #require(ids[subject])])
            #expect(try harness.envelope(try #require(ids[subject])).contains("try again later"))
        } else {
            // Failed: its notice goes in the same run and the queue ends empty.
            #expect(run.status == 0, "\(run.stderr)")
            let notice = try #require(server.messages.last { $0.accepted })
            #expect(notice.sender == "" && notice.recipientAddresses == ["me@test.example"])
            #expect(try parseNotice(notice.data).originalSubject == subject)
            #expect(try harness.queueFiles().isEmpty)
        }
    }

    @Test(arguments: ["MAIL", "RCPT"])
    func theNextMessageRefusedAtItsEnvelopeFailsAloneWithItsNotice(verb: String) throws {
        let harness = try QueueHarness()
        let ids = try Self.queue(harness, 3, prefix: "envelope-\(verb)")
        let server = try dataServer {
            $0.on(verb, occurrence: 2, connection: 1, "550 5.7.1 refused")
            // As a real server answers a pipelined DATA without a valid recipient.
            $0.on("DATA", occurrence: 2, connection: 1, "554 5.5.1 Error: no valid recipients")
        }
        defer { server.stop() }
        let run = try harness.runQueue(try harness.config(port: server.port))
        #expect(run.status == 0, "\(run.stderr)")
        let accepted = acceptedSubjects(server)
        // The second message's envelope went behind the first's dot and was refused.
        let connection = try #require(server.connections.first)
        let secondMail = try #require(connection.commandLines.filter { $0.hasPrefix("MAIL") }.dropFirst().first)
        #expect(secondMail.hasPrefix("MAIL FROM:<me@test.example>"))
        let delivered = ids.keys.filter { accepted[$0] == 1 }
        #expect(delivered.count == 2, "\(accepted)")
        let notice = try #require(server.messages.last { $0.accepted })
        #expect(notice.sender == "" && notice.recipientAddresses == ["me@test.example"])
        let failed = try #require(Set(ids.keys).subtracting(delivered).first)
        #expect(try parseNotice(notice.data).originalSubject == failed)
        #expect(server.connections.count == 1)
        #expect(try harness.queueFiles().isEmpty)
    }

    @Test func aConnectionLostAfterTheDotKeepsThatMessageAndDeliversTheNextOnce() throws {
        let harness = try QueueHarness()
        let ids = try Self.queue(harness, 2, prefix: "dropped")
        let server = try dataServer { $0.on(".", occurrence: 1, connection: 1, .disconnect) }
        defer { server.stop() }
        let run = try harness.runQueue(try harness.config(port: server.port))
        #expect(run.status == 0, "\(run.stderr)")
        let first = try #require(server.connections.first)
        // The next envelope went behind the dot on the connection that dropped …
        #expect(
            String(decoding: first.received, as: UTF8.self).contains("\r\n.\r\nRSET\r\nMAIL FROM:<me@test.example>"))
        #expect(first.messages.allSatisfy { !$0.accepted })
        // … it is not delivered there; it goes once, on the next connection,
        // and the message whose verdict never came stays queued.
        let remaining = try harness.visibleIDs()
        #expect(remaining.count == 1)
        let lost = try #require(ids.first { $0.value == remaining.first }?.key)
        let next = try #require(Set(ids.keys).subtracting([lost]).first)
        #expect(acceptedSubjects(server) == [next: 1])
        #expect(server.connections.count == 2)
        #expect(server.connections.last?.messages.map(\.accepted) == [true])
    }

    @Test func withoutPipeliningTheRunStaysLockStep() throws {
        let harness = try QueueHarness()
        _ = try Self.queue(harness, 3, prefix: "lockstep")
        let server = try dataServer { $0.extensions.removeAll { $0 == "PIPELINING" } }
        defer { server.stop() }
        let run = try harness.runQueue(try harness.config(port: server.port))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(acceptedSubjects(server) == ["lockstep-0": 1, "lockstep-1": 1, "lockstep-2": 1])
        let connection = try #require(server.connections.first)
        #expect(connection.batches.allSatisfy { $0.count == 1 }, "\(connection.batches)")
        #expect(
            !connection.reads.contains { String(decoding: $0, as: UTF8.self).contains(".\r\nMAIL") })
        #expect(try harness.queueFiles().isEmpty)
    }
}
