import ApusTestSupport
import Foundation
import Glibc
import Testing

/// `kill -9` and failing system calls at every queue step (the `APUS_FAULT`
/// points of Sources/ApusQueue/FaultPoint.swift), and a full disk: no message
/// is ever lost nor half visible.
@Suite struct QueueCrashTests {
    static let submitterPoints = [
        "queue.data.write", "queue.data.written", "queue.message.synced", "queue.message.renamed",
    ]

    /// Backdates leftovers by two days so the run's sweep (files older than a day) takes them.
    static func age(_ harness: QueueHarness) throws {
        let old = Date(timeIntervalSinceNow: -2 * 86400)
        for name in try harness.queueFiles() {
            try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: harness.queue + "/" + name)
        }
    }

    @Test(arguments: submitterPoints)
    func submitterKilledAtAnyStepLeavesNothingHalfVisible(point: String) throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        let killed = try harness.submit(down, subject: "killed-\(point)", environment: ["APUS_FAULT": point])
        #expect(killed.signaled && killed.status == SIGKILL, "status \(killed.status): \(killed.stderr)")

        let visible = point == "queue.message.renamed"
        let listed = try harness.mailqJSON(down)  // no problems reported: nothing half-written is visible
        #expect(listed.count == (visible ? 1 : 0))
        if let entry = listed.first {
            #expect((entry["recipients"] as? [[String: Any]])?.first?["address"] as? String == "rcpt@example.com")
            #expect((entry["message_size"] as? Int ?? 0) > 0)
        }

        let server = try dataServer()
        defer { server.stop() }
        let config = try harness.config(port: server.port)
        try Self.age(harness)
        let run = try harness.runQueue(config)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(acceptedSubjects(server) == (visible ? ["killed-\(point)": 1] : [:]))
        #expect(try harness.queueFiles().isEmpty, "the run sweeps what the dead submitter left")
    }

    @Test(arguments: submitterPoints)
    func aFailedQueueWriteExits75AndLeavesNothing(point: String) throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        let result = try harness.submit(down, subject: "enospc", environment: ["APUS_FAULT": point + ":ENOSPC"])
        #expect(result.status == 75, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("apus: cannot queue the message"), "\(result.stderr)")
        #expect(
            result.stderr.contains("No space left on device") || result.stderr.contains("ENOSPC"), "\(result.stderr)")
        #expect(try harness.queueFiles().isEmpty)
    }

    @Test(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
    func aFullDiskExits75AndLeavesNothing() throws {
        let harness = try QueueHarness()
        let small = try harness.directory.makeDirectory("small", mode: 0o755)
        let mount = try Subprocess.run("/usr/bin/mount", arguments: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", small])
        try #require(mount.status == 0, "mount: \(mount.stderr)")
        defer { _ = try? Subprocess.run("/usr/bin/umount", arguments: [small]) }

        let down = try harness.config("small.conf", port: try freeLoopbackPort(), queueDirectory: small)
        let big = String(repeating: String(repeating: "x", count: 79) + "\n", count: 1500)  // 120 KB
        let result = try harness.submit(down, subject: "too-big", body: big)
        #expect(result.status == 75, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("apus: cannot queue the message"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: small).isEmpty)

        // A message that fits still queues.
        let fits = try harness.submit(down, subject: "fits")
        #expect(fits.status == 0 && parseQueuedLine(fits) != nil, "\(fits.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: small).count == 1)
    }

    /// A runner killed while it rewrites or removes a message: the message
    /// is delivered at least once, and the queue ends empty. `v1:` points run
    /// on a version-1 message (an upgraded queue: `.env` and `.data`).
    @Test(arguments: [
        "queue.update.appended", "queue.remove.message", "v1:queue.update.temp", "v1:queue.update.renamed",
        "v1:queue.remove.envelope", "v1:queue.remove.data",
    ])
    func runnerKilledAtAnyStepDeliversAtLeastOnce(argument: String) throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        let point = argument.hasPrefix("v1:") ? String(argument.dropFirst(3)) : argument
        let partial = point.hasPrefix("queue.update")
        let recipients = partial ? ["a@example.com", "b@example.com"] : ["a@example.com"]
        _ = try harness.submit(down, subject: "runner-\(point)", to: recipients)
        if argument.hasPrefix("v1:") { try downgradeToVersionOne(queueDirectory: harness.queue) }

        // The first run: b deferred (so the envelope is rewritten), or all sent (so it is removed).
        let first = try dataServer { if partial { $0.on("RCPT", occurrence: 2, "451 4.2.0 later") } }
        let firstConfig = try harness.config("first.conf", port: first.port)
        let killed = try harness.runQueue(firstConfig, environment: ["APUS_FAULT": point])
        #expect(killed.signaled && killed.status == SIGKILL, "status \(killed.status): \(killed.stderr)")
        first.stop()
        #expect(first.messages.filter { $0.accepted }.map(\.recipientAddresses) == [["a@example.com"]])

        let listed = try harness.mailqJSON(firstConfig)
        #expect(listed.count == (partial ? 1 : 0))

        let second = try dataServer()
        defer { second.stop() }
        let secondConfig = try harness.config("second.conf", port: second.port)
        try Self.age(harness)
        #expect(try harness.runQueue(secondConfig).status == 0)
        let delivered = (first.messages + second.messages).filter { $0.accepted }.flatMap(\.recipientAddresses)
        for recipient in recipients { #expect(delivered.contains(recipient), "\(delivered)") }
        if !partial { #expect(second.messages.isEmpty, "a removed message is not sent again") }
        #expect(try harness.queueFiles().isEmpty)
    }

    /// A runner killed (or failing) while it queues a failure notice: the
    /// message stays until a notice is queued; the sender gets at least one.
    @Test(arguments: submitterPoints.flatMap { [$0, $0 + ":ENOSPC"] })
    func runnerDyingWhileQueueingANoticeStillNotifiesTheSender(fault: String) throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        _ = try harness.submit(
            down, subject: "notice-\(fault)", to: ["ok@example.com", "bad@example.com"], sender: "me@test.example")
        // The original comes first on each connection (oldest first): its second RCPT is refused,
        // a notice's single RCPT (a later occurrence) is not.
        let refusing = try dataServer { $0.on("RCPT", occurrence: 2, "550 5.1.1 no such user") }
        defer { refusing.stop() }
        let config = try harness.config(port: refusing.port)
        let faulty = try harness.runQueue(config, environment: ["APUS_FAULT": fault])
        if fault.hasSuffix(":ENOSPC") {
            // A storage failure in a run: logged, one line, exit 74 (apus(8), EXIT STATUS).
            #expect(faulty.status == 74, "\(faulty.stderr)")
            #expect(
                faulty.stderr.hasPrefix("apus: queue run: ") && faulty.stderr.split(separator: "\n").count == 1,
                "\(faulty.stderr)")
            #expect(harness.log().contains("warning: ") && harness.log().contains("cannot queue the failure notice"))
        } else {
            #expect(faulty.signaled && faulty.status == SIGKILL, "status \(faulty.status): \(faulty.stderr)")
        }
        let listed = try harness.mailqJSON(config)  // nothing half-written is visible
        if fault.hasSuffix(":ENOSPC") {
            // The message stays visible, waiting, until a notice can be queued.
            let pending = listed.flatMap { ($0["recipients"] as? [[String: Any]]) ?? [] }.compactMap {
                $0["address"] as? String
            }
            #expect(pending == ["bad@example.com"], "\(listed)")
        }

        // Later runs: the notice gets queued and sent.
        try Self.age(harness)
        let again = try harness.runQueue(config)
        #expect(again.status == 0, "\(again.status) \(again.signaled) \(again.stderr)")
        #expect(try harness.runQueue(config).status == 0)
        // Nothing lost: bad@ got the message on a retry, or the sender a notice naming it.
        let notices = refusing.messages.filter { $0.accepted && $0.sender.isEmpty }
        let delivered = refusing.messages.filter { $0.accepted && !$0.sender.isEmpty }.flatMap(\.recipientAddresses)
        #expect(
            delivered.contains("bad@example.com") || notices.contains { $0.text.contains("bad@example.com") },
            "neither delivered nor notified: \(delivered)")
        #expect(notices.allSatisfy { $0.recipientAddresses == ["me@test.example"] })
        let left = try harness.queueFiles()
        #expect(left.isEmpty, "\(left)")
    }
}
