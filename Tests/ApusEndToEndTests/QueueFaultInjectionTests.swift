import ApusTestSupport
import Foundation
import Glibc
import Testing

/// The fault-injection stage (issue 13): every storage system call of three
/// scenarios fails once, in turn, for real (`strace -e inject=SYSCALL:error=E:when=N`),
/// with `EIO` and `ENOSPC` (and `EINTR` for `write`, `openat` and
/// `getdents64`, which must change nothing). A dry run under strace
/// first counts the calls, so each index is hit exactly once.
///
/// Invariants checked after each faulted run (then one or two clean runs):
/// - exit 0 ⇒ the message was delivered, or it is listed and a later run
///   delivers it byte-identical (what the relay got equals the queued bytes);
/// - non-zero ⇒ the documented status (75 for a submission, 74 for a run; 78
///   when the configuration file cannot be opened) with one `apus:` line,
///   and nothing half-visible (mailq reads every envelope cleanly);
/// - a queued message is never lost during a run;
/// - a duplicate only when the faulted run had already had the relay's final
///   250 for it (counted and printed).
@Suite(.serialized) struct QueueFaultInjectionTests {
    enum Scenario: String, CaseIterable, Sendable {
        /// `-bm` with the relay down: the message is queued.
        case submission
        /// `-qf` to smtp-sink: the queued message is delivered and removed.
        case delivery
        /// `-qf` to a relay refusing one of two recipients: the message is
        /// delivered to the other and a failure notice is queued and sent.
        case notice
    }

    /// The storage calls (those the scenario makes are injected; the others count 0).
    static let syscalls = [
        "openat", "write", "pwrite64", "ftruncate", "fsync", "fdatasync", "rename", "renameat", "renameat2", "unlink",
        "unlinkat", "flock",
        "mkdir", "mkdirat", "getdents64",
    ]

    /// One failure to inject.
    struct Fault: CustomStringConvertible {
        var syscall: String
        var index: Int
        var error: String
        var description: String { "\(syscall)#\(index):\(error)" }
    }

    /// What one scenario's faults gave.
    struct Tally {
        var runs = 0
        var statuses: [Int32: Int] = [:]
        var duplicates: [String] = []
    }

    @Test(.enabled(if: QueueDurabilityTests.hasStrace, "needs strace"), arguments: Scenario.allCases)
    func everyStorageCallFailingOnceKeepsTheInvariants(scenario: Scenario) throws {
        let started = Date()
        let sink = try SMTPSink(saveMessages: true)
        defer { sink.stop() }

        // The dry run: which calls the scenario makes, in order.
        let dry = try Iteration(scenario: scenario, subject: "dry-\(scenario)", sink: sink)
        let census = try dry.census()
        var faults: [Fault] = []
        for syscall in Self.syscalls {
            for index in census[syscall] ?? [] {
                let errors: [String]
                switch syscall {
                case "write", "openat": errors = ["EIO", "ENOSPC", "EINTR"]
                case "getdents64": errors = ["EIO", "EINTR"]
                default: errors = ["EIO", "ENOSPC"]
                }
                for error in errors { faults.append(Fault(syscall: syscall, index: index, error: error)) }
            }
        }
        #expect(faults.count > 20, "the census found too few storage calls: \(census)")

        var tally = Tally()
        for fault in faults {
            let iteration = try Iteration(
                scenario: scenario, subject: "fi-\(scenario)-\(fault.syscall)-\(fault.index)-\(fault.error)", sink: sink
            )
            try iteration.check(fault, tally: &tally)
            tally.runs += 1
        }
        let seconds = Int(Date().timeIntervalSince(started))
        let statuses = tally.statuses.sorted { $0.key < $1.key }.map { "exit \($0.key): \($0.value)" }
        print(
            "fault stage \(scenario): \(tally.runs) faulted runs in \(seconds) s (\(statuses.joined(separator: ", "))); "
                + "duplicates: \(tally.duplicates.count)\(tally.duplicates.isEmpty ? "" : " \(tally.duplicates)")")
    }

    /// One fresh queue, its servers and message, for one faulted run.
    struct Iteration {
        let scenario: Scenario
        let subject: String
        let sink: SMTPSink
        let harness: QueueHarness
        let down: String
        let up: String
        /// The scripted relay of the notice scenario (550 to the 2nd RCPT of its 1st connection).
        let refusing: ScriptableSMTPServer?
        /// The queued bytes (delivery and notice scenarios: queued before the faulted run).
        let stored: [UInt8]?

        init(scenario: Scenario, subject: String, sink: SMTPSink) throws {
            self.scenario = scenario
            self.subject = subject
            self.sink = sink
            harness = try QueueHarness()
            if scenario == .notice {
                let server = try dataServer { $0.on("RCPT", occurrence: 2, connection: 1, "550 5.1.1 no such user") }
                refusing = server
                up = try harness.config("up.conf", port: server.port)
            } else {
                refusing = nil
                up = try harness.config("up.conf", port: sink.port)
            }
            // After the servers are listening: the port of the relay that is down is then none of theirs
            // (asked for first, it was free again when the scripted relay bound a port, and could be that one).
            down = try harness.downConfig()
            switch scenario {
            case .submission:
                stored = nil
            case .delivery, .notice:
                let recipients = scenario == .notice ? ["ok@example.com", "bad@example.com"] : ["rcpt@example.com"]
                let submitted = try harness.submit(down, subject: subject, to: recipients, sender: "me@test.example")
                let queued = try #require(parseQueuedLine(submitted), "\(submitted.stderr)")
                stored = try harness.content(queued.id)
            }
        }

        /// The faulted command.
        var arguments: [String] {
            scenario == .submission
                ? ["-C", down, "-f", "me@test.example", "-i", "rcpt@example.com"] : ["-C", up, "-qf"]
        }
        var input: [UInt8] { scenario == .submission ? QueueHarness.message(subject: subject) : [] }

        /// Runs the command once under strace, tracing the storage calls, and
        /// returns for each call the 1-based indices to fail: every call, except
        /// `openat` of paths outside the test's directory (the loader, /proc, /etc).
        func census() throws -> [String: [Int]] {
            defer { refusing?.stop() }
            let output = harness.directory.file("census.txt")
            var env = ProcessInfo.processInfo.environment
            env["APUS_FAULT"] = nil
            let result = try Subprocess.run(
                QueueDurabilityTests.strace,
                arguments: [
                    "-f", "-o", output, "-e", "trace=" + QueueFaultInjectionTests.syscalls.joined(separator: ","),
                ]
                    + [harness.executable] + arguments,
                environment: env, standardInput: input, timeout: 60)
            try #require(result.status == 0, "dry run: \(result.stderr)")
            var counts: [String: Int] = [:]
            var chosen: [String: [Int]] = [:]
            for line in try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n") {
                guard let match = line.firstMatch(of: /^\d+ +([a-z0-9_]+)\(/) else { continue }
                let name = String(match.1)
                counts[name, default: 0] += 1
                if name == "openat" && !line.contains(harness.directory.path) { continue }
                chosen[name, default: []].append(counts[name] ?? 0)
            }
            return chosen
        }

        /// Runs the command with `fault` and checks the invariants (then clean runs).
        func check(_ fault: Fault, tally: inout Tally) throws {
            defer { refusing?.stop() }
            let inject = "inject=\(fault.syscall):error=\(fault.error):when=\(fault.index)"
            let run = try harness.traced(inject, arguments, input: input)
            let context = Comment(rawValue: "\(scenario) \(fault): exit \(run.status): \(run.stderr)")
            tally.statuses[run.status, default: 0] += 1
            #expect(!run.signaled && !run.timedOut, context)
            let allowed: Set<Int32> = scenario == .submission ? [0, 75, 78] : [0, 74, 78]
            #expect(allowed.contains(run.status), context)
            // EINTR is retried everywhere: it changes nothing.
            if fault.error == "EINTR" { #expect(run.status == 0, context) }
            if run.status != 0 {
                let lines = run.stderr.split(separator: "\n", omittingEmptySubsequences: false)
                // One line; none at all only when the fault was the write of that line.
                let oneLine = lines.count == 2 && lines[0].hasPrefix("apus: ") && lines[1].isEmpty
                #expect(oneLine || (fault.syscall == "write" && run.stderr.isEmpty), context)
            }
            // Nothing half-visible: every envelope reads back, with its data file.
            let listed = try listedIDs(context)
            let deliveredNow = delivered()

            switch scenario {
            case .submission:
                if run.status == 0 {
                    #expect(listed.count == 1, context)
                    let id = try #require(listed.first, context)
                    let bytes = try harness.content(id)
                    try cleanRuns(1)
                    let copies = delivered()
                    #expect(copies.count == 1, context)
                    for copy in copies { #expect(Self.sameMessage(copy, bytes), context) }
                } else {
                    #expect(listed.isEmpty, context)
                    #expect(try harness.queueFiles().isEmpty, context)
                    try cleanRuns(1)
                    #expect(delivered().isEmpty, "a failed submission was sent: \(context)")
                }
            case .delivery:
                #expect(!deliveredNow.isEmpty || listed.count == 1, "lost: \(context)")
                try cleanRuns(1)
                let copies = delivered()
                #expect(copies.count >= 1, "never delivered: \(context)")
                for copy in copies { #expect(Self.sameMessage(copy, stored ?? []), context) }
                if copies.count > 1 {
                    tally.duplicates.append(fault.description)
                    #expect(!deliveredNow.isEmpty, "a duplicate without a 250 in the faulted run: \(context)")
                    #expect(run.status != 0, "a duplicate after a run that reported nothing: \(context)")
                }
            case .notice:
                let server = try #require(refusing)
                let okNow = originals(server).filter { $0.recipientAddresses.contains("ok@example.com") }.count
                #expect(okNow >= 1 || listed.count >= 1, "lost: \(context)")
                try cleanRuns(2)
                let copies = originals(server)
                let okCopies = copies.filter { $0.recipientAddresses.contains("ok@example.com") }.count
                let badCopies = copies.filter { $0.recipientAddresses.contains("bad@example.com") }.count
                let notices = server.messages.filter { $0.accepted && $0.sender.isEmpty }
                #expect(okCopies >= 1, "ok@ never got it: \(context)")
                #expect(
                    badCopies >= 1 || notices.contains { $0.text.contains("bad@example.com") },
                    "bad@ neither delivered nor notified: \(context)")
                #expect(notices.allSatisfy { $0.recipientAddresses == ["me@test.example"] }, context)
                for copy in copies { #expect(Self.sameMessage(copy.data, stored ?? []), context) }
                if okCopies > 1 || notices.count > 1 {
                    tally.duplicates.append(fault.description)
                    #expect(okNow >= 1, "a duplicate without a 250 in the faulted run: \(context)")
                    #expect(run.status != 0, "a duplicate after a run that reported nothing: \(context)")
                }
            }
            let left = try harness.queueFiles()
            #expect(left.isEmpty, "left in the queue: \(left) \(context)")
        }

        /// The ids mailq lists; it must read every envelope (no problem lines).
        func listedIDs(_ context: Comment) throws -> [String] {
            let result = try harness.apus(["-C", down, "-bp", "--json"])
            #expect(result.status == 0 && result.stderr.isEmpty, "mailq: \(result.stderr) \(context)")
            return result.stdout.split(separator: "\n").compactMap {
                $0.firstMatch(of: /"queue_id": "([0-9A-F]+)"/).map { String($0.1) }
            }
        }

        /// `count` clean queue runs (no fault), each expected to succeed.
        func cleanRuns(_ count: Int) throws {
            for _ in 0..<count {
                let run = try harness.runQueue(up, ["-qf"])
                #expect(run.status == 0, "clean run: \(run.stderr)")
            }
        }

        /// What smtp-sink saved with this iteration's subject.
        func delivered() -> [[UInt8]] {
            let saved = (try? sink.savedMessages()) ?? []
            return saved.filter { subjectHeader(of: $0.text) == subject }.map(\.content)
        }

        /// The original (not the notices) as the scripted relay accepted it.
        func originals(_ server: ScriptableSMTPServer) -> [ApusTestSupport.ReceivedMessage] {
            server.messages.filter { $0.accepted && !$0.sender.isEmpty }
        }

        /// Equal bytes, line ends aside (smtp-sink stores LF, the queue CRLF).
        static func sameMessage(_ received: [UInt8], _ stored: [UInt8]) -> Bool {
            func lf(_ bytes: [UInt8]) -> [UInt8] {
                var out: [UInt8] = []
                for (i, byte) in bytes.enumerated() where !(byte == 13 && i + 1 < bytes.count && bytes[i + 1] == 10) {
                    out.append(byte)
                }
                while out.last == 10 { out.removeLast() }
                return out
            }
            return lf(received) == lf(stored)
        }
    }
}
