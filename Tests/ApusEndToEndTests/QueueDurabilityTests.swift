import ApusTestSupport
import Foundation
import Glibc
import Testing

/// Issue 13: storage failures never pass silently, nothing is stuck or lost
/// (corrupt messages moved aside, leftovers swept), no false failure (the
/// submitter's lock), `-C` messages retried with their file, `EINTR` while
/// listing, and what a run did (`-q -v`, mailq's next attempt).
@Suite struct QueueDurabilityTests {
    static let strace = "/usr/bin/strace"
    static var hasStrace: Bool { FileManager.default.isExecutableFile(atPath: strace) }

    // MARK: 2. No silent storage failures

    /// An envelope update that fails (twice): the run stops sending, logs a
    /// `warning:`, prints it with `-v`, and exits 74 with one line.
    @Test func aFailedEnvelopeUpdateIsLoggedAndStopsTheRun() throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        for index in 0..<2 {
            _ = try harness.submit(down, subject: "update-\(index)", to: ["a@example.com", "b@example.com"])
        }
        // b is deferred, so each attempt must rewrite the envelope.
        let server = try dataServer { $0.on("RCPT", occurrence: 2, "451 4.2.0 b later") }
        defer { server.stop() }
        let config = try harness.config(port: server.port)
        let run = try harness.runQueue(config, ["-qf"], environment: ["APUS_FAULT": "queue.update.appended:EIO"])
        #expect(run.status == 74, "\(run.stderr)")
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("apus: queue run: "), "\(run.stderr)")
        #expect(run.stderr.contains("cannot record the attempt"), "\(run.stderr)")
        #expect(
            harness.log().contains("warning: ") && harness.log().contains("cannot record the attempt"),
            "\(harness.log())")
        #expect(server.messages.filter(\.accepted).count == 1, "the run stops after the failed update")
        #expect(try harness.visibleIDs().count == 2, "nothing is lost")

        // -v shows it as it happens.
        let verbose = try harness.runQueue(
            config, ["-qf", "-v"], environment: ["APUS_FAULT": "queue.update.appended:EIO"])
        #expect(verbose.status == 74)
        #expect(verbose.stderr.contains("apus: warning: ") && verbose.stderr.contains("cannot record the attempt"))
    }

    /// A removal that fails: logged, exit 74; the message says every recipient
    /// is done, so it is never sent again, and a later run cleans it up.
    @Test func aFailedRemovalIsLoggedAndNeverSendsAgain() throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        let queued = try #require(parseQueuedLine(try harness.submit(down, subject: "remove-fails")))
        let server = try dataServer()
        defer { server.stop() }
        let config = try harness.config(port: server.port)
        let run = try harness.runQueue(config, ["-qf"], environment: ["APUS_FAULT": "queue.remove.message:EIO"])
        #expect(run.status == 74, "\(run.stderr)")
        #expect(run.stderr.contains("cannot remove the finished message"), "\(run.stderr)")
        #expect(harness.log().contains("warning: \(queued.id): cannot remove"), "\(harness.log())")
        #expect(acceptedSubjects(server) == ["remove-fails": 1])
        #expect(try harness.runQueue(config, ["-qf"]).status == 0)
        #expect(acceptedSubjects(server) == ["remove-fails": 1], "never sent twice")
        #expect(try harness.mailqJSON(config).isEmpty)
    }

    /// A `log` file that cannot be written: the lines go to syslog, and
    /// `-v` says so; the delivery itself is unaffected.
    @Test func anUnwritableLogIsReportedUnderVerbose() throws {
        let harness = try QueueHarness()
        let sink = try SMTPSink(saveMessages: true)
        defer { sink.stop() }
        let config = try harness.config(port: sink.port, extra: ["log \(harness.directory.path)/no/such/dir/log"])
        let result = try harness.apus(
            ["-C", config, "-v", "-i", "rcpt@example.com"], input: QueueHarness.message(subject: "log-fails"))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("apus: warning: cannot write the log"), "\(result.stderr)")
        #expect(try sink.waitForMessages(1).count == 1)
    }

    // MARK: 3. No message stuck or lost

    /// Version-1 envelopes without data, that do not parse, of an unknown
    /// version, or over-size, and version-2 files with a bad header or without
    /// a whole envelope record: mailq still lists the good messages (exit 0);
    /// a run moves the bad ones to corrupt/ (logged), never sends, expires or
    /// sweeps them; mailq then counts them.
    @Test func corruptMessagesAreMovedAsideAndCounted() throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig(lifetime: "1s")
        let good = try #require(parseQueuedLine(try harness.submit(down, subject: "good")))
        let cut = try #require(parseQueuedLine(try harness.submit(down, subject: "cut")))
        // A .msg whose records are all gone (only its header and content are left).
        let cutPath = harness.queue + "/\(cut.id).msg"
        let cutBytes = try Data(contentsOf: URL(fileURLWithPath: cutPath))
        let contentLength = try #require(Int(String(decoding: cutBytes[13..<31], as: UTF8.self)))
        try cutBytes.prefix(32 + contentLength).write(to: URL(fileURLWithPath: cutPath))
        try harness.directory.write("q/EEEEEEEEEEEE.msg", "apus-queue 7 000000000000000002\nx\n")
        let orphan = (id: "DDDDDDDDDDDD", reason: "")
        try harness.directory.write("q/DDDDDDDDDDDD.env", "version: 1\narrival: 5\nsender: a\nrcpt: pending a@b\nend\n")
        try harness.directory.write("q/AAAAAAAAAAAA.env", "garbage\n")
        try harness.directory.write("q/AAAAAAAAAAAA.data", "Subject: x\n\nx\n")
        try harness.directory.write(
            "q/BBBBBBBBBBBB.env", "version: 9\narrival: 5\nsender: a\nrcpt: pending a@b\nend\n")
        try harness.directory.write("q/BBBBBBBBBBBB.data", "Subject: y\n\ny\n")
        let huge =
            "version: 1\narrival: 5\nsender: a\nrcpt: pending a@b\nx-pad: "
            + String(repeating: "x", count: 17 << 20) + "\nend\n"
        try harness.directory.write("q/CCCCCCCCCCCC.env", huge)
        try harness.directory.write("q/CCCCCCCCCCCC.data", "Subject: z\n\nz\n")

        let before = try harness.apus(["-C", down, "-bp"])
        #expect(before.status == 0, "\(before.stderr)")
        #expect(before.stdout.contains(good.id), "\(before.stdout)")
        #expect(before.stderr.contains("AAAAAAAAAAAA") && before.stderr.contains("BBBBBBBBBBBB"), "\(before.stderr)")
        #expect(before.stderr.contains(cut.id) && before.stderr.contains("EEEEEEEEEEEE"), "\(before.stderr)")

        let server = try dataServer()
        defer { server.stop() }
        let config = try harness.config(port: server.port)
        let run = try harness.runQueue(config, ["-qf", "-v"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(acceptedSubjects(server) == ["good": 1], "only the good message is sent")
        let corrupt = try FileManager.default.contentsOfDirectory(atPath: harness.queue + "/corrupt").sorted()
        #expect(
            corrupt
                == [
                    "AAAAAAAAAAAA.data", "AAAAAAAAAAAA.env", "BBBBBBBBBBBB.data", "BBBBBBBBBBBB.env",
                    "CCCCCCCCCCCC.data",
                    "CCCCCCCCCCCC.env", "\(orphan.id).env", "\(cut.id).msg", "EEEEEEEEEEEE.msg",
                ].sorted(), "\(corrupt)")
        for id in ["AAAAAAAAAAAA", "BBBBBBBBBBBB", "CCCCCCCCCCCC", orphan.id, cut.id, "EEEEEEEEEEEE"] {
            #expect(
                harness.log().contains("warning: \(id): moved to \(harness.queue)/corrupt"), "\(id): \(harness.log())")
            #expect(run.stderr.contains("apus: warning: \(id): moved to"), "\(run.stderr)")
        }
        #expect(try harness.queueFiles() == ["corrupt"])

        let after = try harness.apus(["-C", config, "-bp"])
        #expect(after.status == 0)
        #expect(after.stdout == "Mail queue is empty\n")
        #expect(
            after.stderr == "apus: 6 corrupt messages in \(harness.queue)/corrupt (see apus(8), QUEUE FILE FORMAT)\n")
        // Another run (with an expiring lifetime and a sweep) leaves them alone.
        try QueueCrashTests.age(harness)
        #expect(try harness.runQueue(down, ["-qf"]).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: harness.queue + "/corrupt").count == 9)
    }

    /// Leftovers of dead processes, `.apus-spool-*` included, go after a day;
    /// younger ones stay (their process may still be at work).
    @Test func leftoversAreSweptAfterADay() throws {
        let harness = try QueueHarness()
        let config = try harness.downConfig()
        for name in [".apus-spool-Ab12Cd", "ABCDEF012345.tmp", "ABCDEF012346.envtmp", "ABCDEF012347.data"] {
            try harness.directory.write("q/" + name, "left over\n")
        }
        try QueueCrashTests.age(harness)
        try harness.directory.write("q/.apus-spool-Young1", "still being written\n")
        let run = try harness.runQueue(config, ["-q", "-v"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try harness.queueFiles() == [".apus-spool-Young1"])
        #expect(harness.log().contains("warning: removed 4 leftover file(s)"), "\(harness.log())")
    }

    // MARK: 4. No false failure

    /// The submitter's final directory fsync stalls, then fails: a queue run
    /// in that window finds the message locked and leaves it; the submitter
    /// exits 75 and removes it. Nothing is sent.
    @Test(.enabled(if: hasStrace, "needs strace"))
    func aConcurrentRunNeverSendsAMessageItsSubmitterReportsAsFailed() throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        let server = try dataServer()
        defer { server.stop() }
        let config = try harness.config(port: server.port)
        // Submission fsyncs: the message file, then the directory (the 2nd): stall 8 s,
        // then EIO (a wide window: the run must start inside it).
        let inject = "inject=fsync:error=EIO:delay_enter=8000000:when=2"
        let results = concurrently(2) { index -> SubprocessResult? in
            if index == 0 {
                return try harness.traced(
                    inject, ["-C", down, "-i", "rcpt@example.com"],
                    input: QueueHarness.message(subject: "false-failure"))
            }
            let deadline = Date(timeIntervalSinceNow: 10)
            while try harness.visibleIDs().isEmpty && Date() < deadline { usleep(10_000) }
            return try harness.runQueue(config, ["-qf", "-v"])
        }
        let submitter = try #require(try results[0].get())
        let runner = try #require(try results[1].get())
        #expect(submitter.status == 75, "\(submitter.stderr)")
        #expect(submitter.stderr.hasPrefix("apus: cannot queue the message"), "\(submitter.stderr)")
        #expect(runner.status == 0, "\(runner.stderr)")
        #expect(runner.stderr.contains("skipped: another process is working on it"), "\(runner.stderr)")
        #expect(server.messages.isEmpty, "a message reported as failed was sent")
        #expect(try harness.queueFiles().isEmpty)
    }

    // MARK: 5. -C messages

    /// Runs `apus -q -v` without -C, with `systemConfig` as /etc/apus.conf
    /// (an overlay on /etc in a private mount namespace).
    func runWithSystemConfiguration(_ harness: QueueHarness, _ systemConfig: String) throws -> SubprocessResult {
        let upper = try harness.directory.makeDirectory("etc-upper")
        let work = try harness.directory.makeDirectory("etc-work")
        let script = """
            mount -t overlay overlay -o lowerdir=/etc,upperdir=\(upper),workdir=\(work) /etc || exit 99
            cp "$1" /etc/apus.conf && chmod 0644 /etc/apus.conf || exit 98
            exec "$2" -q -v
            """
        return try Subprocess.run(
            "/usr/bin/unshare",
            arguments: ["--mount", "/bin/sh", "-c", script, "sh", systemConfig, harness.executable],
            timeout: 60)
    }

    @Test(.enabled(if: getuid() == 0, "mount namespaces need root"))
    func aMessageQueuedWithDashCIsRetriedWithItsFile() throws {
        let harness = try QueueHarness()
        let server = try dataServer { $0.on("RCPT", connection: 1, "451 4.3.0 later") }
        defer { server.stop() }
        // The -C file names the working relay; the system file a dead one, same queue.
        let other = try harness.config("other.conf", port: server.port)
        chmod(other, 0o600)
        let system = try harness.downConfig("system.conf")
        let queued = try #require(parseQueuedLine(try harness.submit(other, subject: "dash-C")))
        #expect(try harness.envelope(queued.id).contains("\nconfig: \(other)\n"))
        #expect(try harness.envelope(queued.id).hasPrefix("version: 2\n"))
        try backdate(harness, queued.id, by: 10)  // due for -q

        let run = try runWithSystemConfiguration(harness, system)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(acceptedSubjects(server) == ["dash-C": 1], "\(run.stderr)")
        #expect(run.stderr.contains("apus: \(queued.id): sent to rcpt@example.com"), "\(run.stderr)")
        #expect(try harness.queueFiles().isEmpty)
    }

    @Test(.enabled(if: getuid() == 0, "mount namespaces need root"), arguments: ["gone", "unsafe"])
    func aMessageWhoseDashCFileIsGoneOrUnsafeStaysQueued(problem: String) throws {
        let harness = try QueueHarness()
        let server = try dataServer { $0.on("RCPT", connection: 1, "451 4.3.0 later") }
        defer { server.stop() }
        let other = try harness.config("other.conf", port: server.port)
        chmod(other, 0o600)
        let system = try harness.config("system.conf", port: server.port)  // would deliver: must not be used
        let queued = try #require(parseQueuedLine(try harness.submit(other, subject: "dash-C-\(problem)")))
        try backdate(harness, queued.id, by: 10)  // due for -q
        if problem == "gone" {
            try FileManager.default.removeItem(atPath: other)
        } else {
            chmod(other, 0o666)
        }
        let run = try runWithSystemConfiguration(harness, system)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(acceptedSubjects(server).isEmpty, "sent with the wrong configuration")
        #expect(try harness.visibleIDs() == [queued.id])
        let reason = (try harness.mailqJSON(system).first?["recipients"] as? [[String: Any]])?.first?["delay_reason"]
        let expected = problem == "gone" ? "No such file or directory" : "is no longer safe"
        #expect((reason as? String)?.contains(expected) == true, "\(String(describing: reason))")
        #expect((reason as? String)?.contains(other) == true)
        #expect(run.stderr.contains("apus: \(queued.id): deferred until "), "\(run.stderr)")
    }

    // MARK: 6. EINTR while listing

    @Test(.enabled(if: hasStrace, "needs strace"), arguments: [1, 2])
    func anInterruptedDirectoryListingIsRetried(when: Int) throws {
        let harness = try QueueHarness()
        let down = try harness.downConfig()
        let queued = try #require(parseQueuedLine(try harness.submit(down, subject: "eintr")))
        let inject = "inject=getdents64:error=EINTR:when=\(when)"
        let listed = try harness.traced(inject, ["-C", down, "-bp"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains(queued.id))
        let server = try dataServer()
        defer { server.stop() }
        let config = try harness.config(port: server.port)
        let run = try harness.traced(inject, ["-C", config, "-qf"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(acceptedSubjects(server) == ["eintr": 1])
    }

    // MARK: 7. What a run did

    @Test func verboseRunsSayWhatHappenedToEachMessage() throws {
        let harness = try QueueHarness()
        let empty = try harness.runQueue(try harness.downConfig(), ["-q", "-v"])
        #expect(empty.status == 0 && empty.stderr == "apus: the queue is empty\n", "\(empty.stderr)")

        let down = try harness.downConfig(retry: "1h")
        let sent = try #require(parseQueuedLine(try harness.submit(down, subject: "v-sent")))
        let mixed = try #require(
            parseQueuedLine(
                try harness.submit(
                    down, subject: "v-mixed", to: ["ok@example.com", "bad@example.com", "later@example.com"],
                    sender: "me@test.example")))

        // Nothing due (next attempt in an hour): silent without -v, one line with it.
        let quiet = try harness.runQueue(down, ["-q"])
        #expect(quiet.status == 0 && quiet.stderr.isEmpty && quiet.stdout.isEmpty)
        let idle = try harness.runQueue(down, ["-q", "-v"])
        #expect(idle.status == 0)
        #expect(
            idle.stderr.wholeMatch(
                of:
                    /apus: nothing due; 2 messages queued, next attempt [A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d\n/
            )
                != nil, "\(idle.stderr)")
        // mailq says when.
        let listing = try harness.apus(["-C", down, "-bp"])
        #expect(listing.stdout.contains("; next attempt "), "\(listing.stdout)")

        try backdate(harness, mixed.id, by: 10)  // the oldest: its recipients are RCPT 1 to 3
        let server = try dataServer { configuration in
            configuration.on("RCPT", occurrence: 2, connection: 1, "550 5.1.1 no such user")
            configuration.on("RCPT", occurrence: 3, connection: 1, "451 4.2.0 try later")
        }
        defer { server.stop() }
        let config = try harness.config(port: server.port, retry: "1h")
        let run = try harness.runQueue(config, ["-qf", "-v"])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("apus: ") }
        #expect(lines.contains("apus: \(sent.id): sent to rcpt@example.com"), "\(lines)")
        let mixedLine = try #require(lines.first { $0.hasPrefix("apus: \(mixed.id): ") }, "\(lines)")
        #expect(
            mixedLine.contains("sent to ok@example.com; failed for bad@example.com; deferred until "), "\(mixedLine)")
        #expect(mixedLine.hasSuffix(" said: 451 4.2.0 try later (in reply to RCPT TO command)"), "\(mixedLine)")
        // The failure notice for bad@ waits for the message (later@ is pending).
        #expect(try harness.mailqJSON(config).count == 1)
    }
}

extension QueueHarness {
    /// Runs `apus arguments…` under `strace -f` with one `-e inject=…` rule.
    func traced(_ inject: String, _ arguments: [String], input: [UInt8] = [], timeout: Double = 60) throws
        -> SubprocessResult
    {
        var env = ProcessInfo.processInfo.environment
        env["APUS_FAULT"] = nil
        return try Subprocess.run(
            QueueDurabilityTests.strace, arguments: ["-f", "-o", "/dev/null", "-e", inject, executable] + arguments,
            environment: env, standardInput: input, timeout: timeout)
    }
}
