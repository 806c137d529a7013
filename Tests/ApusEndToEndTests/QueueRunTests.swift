import ApusTestSupport
import Foundation
import Glibc
import Testing

/// Queue runs: concurrency, selection, interval mode, grouping over one
/// connection, mailq's listing, file modes; and a real relay (smtp-sink).
@Suite struct QueueRunTests {
    @Test func fiftySubmittersThenThreeRunnersDeliverEveryMessageExactlyOnce() throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        let submitted = concurrently(50) { index in
            try harness.submit(down, subject: "concurrent-\(index)", to: ["r\(index % 5)@example.com"])
        }
        var ids: Set<String> = []
        for result in submitted {
            let run = try result.get()
            #expect(run.status == 0, "\(run.stderr)")
            if let queued = parseQueuedLine(run) { ids.insert(queued.id) }
        }
        #expect(ids.count == 50)
        #expect(Set(try harness.visibleIDs()) == ids)
        #expect(try harness.mailqJSON(down).count == 50)

        let server = try ScriptableSMTPServer()
        defer { server.stop() }
        let config = try harness.config(port: server.port)
        let runs = concurrently(3) { _ in try harness.runQueue(config) }
        for result in runs {
            let run = try result.get()
            #expect(run.status == 0, "\(run.stderr)")
        }
        let counts = acceptedSubjects(server)
        #expect(counts.count == 50)
        #expect(counts.values.allSatisfy { $0 == 1 }, "\(counts.filter { $0.value != 1 })")
        #expect(Set(counts.keys) == Set((0..<50).map { "concurrent-\($0)" }))
        #expect(try harness.queueFiles().isEmpty)
    }

    @Test func fiftySubmittersThenThreeRunnersWithSMTPSink() throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        let submitted = concurrently(50) { index in try harness.submit(down, subject: "sink-\(index)") }
        #expect(try submitted.allSatisfy { try $0.get().status == 0 })
        #expect(try harness.visibleIDs().count == 50)

        let sink = try SMTPSink(saveMessages: true)
        defer { sink.stop() }
        let config = try harness.config(port: sink.port)
        let runs = concurrently(3) { _ in try harness.runQueue(config) }
        #expect(try runs.allSatisfy { try $0.get().status == 0 })
        let saved = try sink.waitForMessages(50, timeout: 10)
        var counts: [String: Int] = [:]
        for message in saved { counts[subjectHeader(of: message.text) ?? "", default: 0] += 1 }
        #expect(counts.count == 50 && counts.values.allSatisfy { $0 == 1 }, "\(counts.filter { $0.value != 1 })")
        #expect(try harness.queueFiles().isEmpty)
    }

    @Test func realRelaySoftRejectThenDelivery() throws {
        let harness = try QueueHarness()
        let rejecting = try SMTPSink(saveMessages: false, arguments: ["-r", "RCPT"])
        let rejectingConfig = try harness.config("rejecting.conf", port: rejecting.port)
        let submitted = try harness.submit(rejectingConfig, subject: "sink-soft")
        rejecting.stop()
        #expect(submitted.status == 0)
        let queued = try #require(parseQueuedLine(submitted), "\(submitted.stderr)")
        #expect(queued.reason.contains("4"), "\(queued.reason)")

        let sink = try SMTPSink(saveMessages: true)
        defer { sink.stop() }
        let config = try harness.config(port: sink.port)
        #expect(try harness.runQueue(config).status == 0)
        let saved = try sink.waitForMessages(1)
        #expect(saved.count == 1 && subjectHeader(of: saved[0].text) == "sink-soft")
        #expect(saved.first?.recipientArguments == ["<rcpt@example.com>"])
        #expect(try harness.queueFiles().isEmpty)
    }

    @Test func selectionByIDRecipientDomainAndSender() throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig(retry: "5m")
        func queue(_ subject: String, to: String, from: String) throws -> String {
            let result = try harness.submit(down, subject: subject, to: [to], sender: from)
            return try #require(parseQueuedLine(result), "\(result.stderr)").id
        }
        let first = try queue("sel-1", to: "a@one.example", from: "alice@test.example")
        _ = try queue("sel-2", to: "b@Two.Example", from: "bob@test.example")
        _ = try queue("sel-3", to: "c@three.example", from: "carol@test.example")

        let server = try ScriptableSMTPServer()
        defer { server.stop() }
        let config = try harness.config(port: server.port, retry: "5m")
        // Not due (retry 5m): -q sends nothing.
        #expect(try harness.runQueue(config, ["-q"]).status == 0)
        #expect(server.messages.isEmpty)

        #expect(try harness.runQueue(config, ["-qI", String(first.dropFirst(2).prefix(6))]).status == 0)
        #expect(acceptedSubjects(server) == ["sel-1": 1])
        #expect(try harness.runQueue(config, ["-qRtwo.EXAMPLE"]).status == 0)
        #expect(acceptedSubjects(server) == ["sel-1": 1, "sel-2": 1])
        #expect(try harness.runQueue(config, ["-qS", "carol@"]).status == 0)
        #expect(acceptedSubjects(server) == ["sel-1": 1, "sel-2": 1, "sel-3": 1])
        #expect(try harness.queueFiles().isEmpty)
    }

    @Test func intervalModeRunsRepeatedlyAndExitsZeroOnSIGTERM() throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        _ = try harness.submit(down, subject: "interval-1")
        let server = try ScriptableSMTPServer()
        defer { server.stop() }
        let config = try harness.config(port: server.port)

        // Run it in the background of a shell that records its pid, and wait for it.
        let pidFile = harness.directory.file("runner.pid")
        let script = "\"$0\" -C \"$1\" -q1s & echo $! > \"$2\"; wait $!"
        let box = ResultBox<SubprocessResult>()
        let thread = Thread {
            box.set(
                Result {
                    try Subprocess.run(
                        "/bin/sh", arguments: ["-c", script, harness.executable, config, pidFile], timeout: 30)
                })
        }
        thread.start()
        #expect(server.wait(timeout: 10) { $0.flatMap(\.messages).count >= 1 })
        // A message queued while it runs goes on one of its next runs.
        _ = try harness.submit(down, subject: "interval-2")
        #expect(server.wait(timeout: 10) { $0.flatMap(\.messages).count >= 2 })
        #expect(box.get() == nil, "the runner stays in the foreground")
        let pid = try #require(
            Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(pid, SIGTERM)
        let result = try #require(box.wait(seconds: 10), "the runner did not stop on SIGTERM").get()
        #expect(result.status == 0 && !result.signaled && !result.timedOut, "\(result.status) \(result.stderr)")
        #expect(acceptedSubjects(server) == ["interval-1": 1, "interval-2": 1])
    }

    @Test func oneConnectionWithRSETBetweenMessages() throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        for index in 1...3 { _ = try harness.submit(down, subject: "grouped-\(index)") }
        let server = try ScriptableSMTPServer()
        defer { server.stop() }
        let config = try harness.config(port: server.port)
        #expect(try harness.runQueue(config).status == 0)
        #expect(server.connections.count == 1)
        let verbs = server.connections.first?.verbs ?? []
        #expect(verbs.filter { $0 == "MAIL" }.count == 3, "\(verbs)")
        #expect(verbs.filter { $0 == "RSET" }.count == 2, "\(verbs)")
        #expect(verbs.filter { $0 == "EHLO" }.count == 1 && verbs.last == "QUIT", "\(verbs)")
        #expect(server.connections.first?.messages.count == 3)
        #expect(acceptedSubjects(server) == ["grouped-1": 1, "grouped-2": 1, "grouped-3": 1])
    }

    /// A failure on one message of a group defers only that one; the others
    /// go (after a reconnect when the connection is lost), and it goes next time.
    @Test(arguments: [
        ("MAIL 451", ScriptedResponse.reply("451 4.3.0 later")),
        ("MAIL 421 and close", ScriptedResponse.replyThenDisconnect("421 4.3.2 closing")),
        ("MAIL hangs", ScriptedResponse.hang),
    ])
    func aFailureInTheMiddleOfAGroupDefersOnlyThatMessage(name: String, response: ScriptedResponse) throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        for index in 1...3 {  // which of them meets the failure does not matter: no order is asserted
            _ = try #require(parseQueuedLine(try harness.submit(down, subject: "mid-\(index)")))
        }
        let server = try ScriptableSMTPServer(
            {
                var configuration = ScriptableSMTPServer.Configuration()
                configuration.on("MAIL", occurrence: 2, connection: 1, response)
                // As a real server: the pipelined RCPT and BDAT after a refused MAIL fail too.
                configuration.on("RCPT", occurrence: 2, connection: 1, "503 5.5.1 need MAIL first")
                configuration.on("BDAT", occurrence: 2, connection: 1, "503 5.5.1 no valid recipients")
                return configuration
            }())
        defer { server.stop() }
        let config = try harness.config(port: server.port, timeout: "2")
        let started = Date()
        #expect(try harness.runQueue(config).status == 0)
        #expect(Date().timeIntervalSince(started) < 8)
        let firstRun = acceptedSubjects(server)
        #expect(
            firstRun.count == 2 && firstRun.values.allSatisfy { $0 == 1 },
            "\(firstRun) \(server.connections.map(\.commandLines)) \(harness.log())")
        let left = try harness.visibleIDs()
        #expect(left.count == 1, "\(left)")
        #expect(try harness.runQueue(config).status == 0)
        #expect(acceptedSubjects(server) == ["mid-1": 1, "mid-2": 1, "mid-3": 1])
        #expect(try harness.queueFiles().isEmpty)
    }

    @Test func mailqListsQueuedMessagesInPostfixFormat() throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        let mailq = try ApusExecutable.link(named: "mailq", in: harness.directory)
        var env = ProcessInfo.processInfo.environment
        env["TZ"] = "UTC"

        let empty = try Subprocess.run(mailq, arguments: ["-C", down], environment: env)
        #expect(empty.status == 0 && empty.stdout == "Mail queue is empty\n", "\(empty.stdout)\(empty.stderr)")
        let emptyJSON = try Subprocess.run(mailq, arguments: ["-C", down, "--json"], environment: env)
        #expect(emptyJSON.status == 0 && emptyJSON.stdout.isEmpty)

        let one = try #require(
            parseQueuedLine(
                try harness.submit(
                    down, subject: "listed-1", to: ["x@example.com", "y@example.com"], sender: "cron@test.example")))
        let two = try #require(parseQueuedLine(try harness.submit(down, subject: "listed-2", sender: "<>")))

        let text = try Subprocess.run(mailq, arguments: ["-C", down], environment: env)
        #expect(text.status == 0 && text.stderr.isEmpty, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------")
        let size1 = try harness.content(one.id).count
        let header1 = try #require(lines.first { $0.hasPrefix(one.id) })
        #expect(
            header1.wholeMatch(
                of: /[0-9A-F]{10,} +\d+ [A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d  cron@test\.example/)
                != nil, "\(header1)")
        #expect(header1.contains(" \(size1) "), "\(header1) size \(size1)")
        #expect(lines.contains { $0.hasPrefix(two.id) && $0.hasSuffix(" MAILER-DAEMON") })
        // The reason, then when the message is next tried (retry 1s: due by now, or in a second).
        #expect(
            lines.contains { line in
                line.hasPrefix("(\(one.reason); ")
                    && (line.hasSuffix("; due now)")
                        || line.wholeMatch(of: /.*; next attempt [A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d\)/)
                            != nil)
            }, "\(lines)")
        #expect(lines.contains(String(repeating: " ", count: 41) + "x@example.com"))
        #expect(lines.contains(String(repeating: " ", count: 41) + "y@example.com"))
        #expect(lines.suffix(2) == ["-- 1 Kbytes in 2 Requests.", ""], "\(lines.suffix(3))")
        #expect(!text.stdout.contains("hello from the queue tests"), "no body is ever shown")

        let json = try Subprocess.run(mailq, arguments: ["-C", down, "--json"], environment: env)
        let objects = try json.stdout.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(objects.count == 2)
        let first = try #require(objects.first { $0["queue_id"] as? String == one.id })
        #expect(first["sender"] as? String == "cron@test.example")
        #expect(first["message_size"] as? Int == size1)
        #expect((first["arrival_time"] as? Int).map { abs($0 - Int(time(nil))) < 60 } == true)
        #expect(first["attempts"] as? Int == 1)
        #expect((first["next_attempt"] as? Int ?? 0) >= (first["arrival_time"] as? Int ?? .max))
        let recipients = first["recipients"] as? [[String: Any]] ?? []
        #expect(recipients.compactMap { $0["address"] as? String } == ["x@example.com", "y@example.com"])
        #expect(recipients.allSatisfy { ($0["delay_reason"] as? String)?.contains("Connection refused") == true })
        #expect(objects.contains { $0["queue_id"] as? String == two.id && $0["sender"] as? String == "" })
    }

    @Test func queueFilesAreMode0660() throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        let queued = try #require(parseQueuedLine(try harness.submit(down, subject: "modes")))
        // A rewritten envelope keeps the mode too.
        _ = try harness.runQueue(down)
        for name in ["\(queued.id).msg"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: harness.queue + "/" + name)
            #expect((attributes[.posixPermissions] as? Int) == 0o660, "\(name)")
        }
    }
}

/// A result handed from a thread to the test.
final class ResultBox<Value>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: Result<Value, any Error>?
    func set(_ result: Result<Value, any Error>) {
        condition.withLock {
            value = result
            condition.broadcast()
        }
    }
    func get() -> Result<Value, any Error>? { condition.withLock { value } }
    /// Waits until a result is set (woken by ``set(_:)``, no polling), up to `seconds`.
    func wait(seconds: Double) -> Result<Value, any Error>? {
        let deadline = Date(timeIntervalSinceNow: seconds)
        return condition.withLock {
            while value == nil && condition.wait(until: deadline) {}
            return value
        }
    }
    /// Waits until a result is set, however long that takes.
    func wait() -> Result<Value, any Error> {
        condition.withLock {
            while true {
                if let value { return value }
                condition.wait()
            }
        }
    }
}
