import ApusTestSupport
import Foundation
import Testing

/// issue #12 item 3: message_size_limit and recipient_limit.
@Suite struct InputBoundsTests {
    /// `sendmail rcpt </dev/zero` ends at once with 65 naming the limit, and leaves nothing.
    @Test func devZeroEndsAtTheSizeLimit() throws {
        let (server, sandbox) = try scriptedSandbox(settings: "message_size_limit 8M")
        let started = Date()
        let result = try Subprocess.run(
            "/bin/sh",
            arguments: ["-c", "exec \"$0\" -C \"$1\" r@y.example </dev/zero", sandbox.executable, sandbox.configPath],
            timeout: 60)
        #expect(result.status == 65, "\(result.summary)")
        #expect(result.stderr.contains("message_size_limit"), "\(result.summary)")
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(server.messages.isEmpty && server.connections.isEmpty)
        #expect(sandbox.queueFiles().isEmpty)
    }

    @Test func aMessageJustUnderTheLimitGoes() throws {
        let (server, sandbox) = try scriptedSandbox(settings: "message_size_limit 2k")
        let small = try sandbox.run(
            ["r@y.example"], input: "Subject: s\n\n" + String(repeating: "x", count: 1000) + "\n")
        #expect(small.status == 0, "\(small.summary)")
        let large = try sandbox.run(["r@y.example"], input: "Subject: s\n\n" + String(repeating: "x\n", count: 1100))
        #expect(large.status == 65, "\(large.summary)")
        #expect(large.stderrLines.first?.contains("message_size_limit (2048 octets)") == true, "\(large.summary)")
        #expect(server.waitForMessages(1).count == 1)
        #expect(sandbox.queueFiles().isEmpty)
        // A local refusal is logged too (delivery.md "Logging").
        #expect(
            sandbox.logLines().contains {
                $0.contains(" NOQUEUE: ") && $0.contains("to=<r@y.example>") && $0.contains("status=bounced")
                    && $0.contains("message_size_limit")
            }, "\(sandbox.logLines())")
    }

    @Test func moreRecipientsThanTheLimitIsAUsageError() throws {
        let (server, sandbox) = try scriptedSandbox(settings: "recipient_limit 3")
        let result = try sandbox.run(
            ["a@y.example", "b@y.example", "c@y.example", "d@y.example"], input: "Subject: x\n\nx\n")
        #expect(result.status == 64, "\(result.summary)")
        #expect(result.stderrLines.first?.contains("recipient_limit is 3") == true, "\(result.summary)")
        #expect(server.connections.isEmpty)
        #expect(sandbox.queueFiles().isEmpty)
        #expect(sandbox.logLines().contains { $0.contains(" NOQUEUE: ") && $0.contains("recipient_limit is 3") })
        let three = try sandbox.run(["a@y.example", "b@y.example", "c@y.example"], input: "Subject: x\n\nx\n")
        #expect(three.status == 0, "\(three.summary)")
    }

    @Test func aConfigurationErrorNamesTheLine() throws {
        let sandbox = try ApusSandbox(refusing: "message_size_limit 12X")
        let result = try sandbox.run(["r@y.example"], input: "x\n")
        #expect(result.status == 78, "\(result.summary)")
        #expect(result.stderr.contains("apus.conf:7: "), "\(result.summary)")
        #expect(result.stderr.contains("message_size_limit"), "\(result.summary)")
    }

    /// Many recipients answered 452 on every run: the per-recipient bookkeeping
    /// is linear (was a search per recipient: 150,000 took 97 s a run).
    @Test func manyDeferredRecipientsAreHandledInLinearTime() throws {
        let count = 50_000
        let (_, sandbox) = try scriptedSandbox(settings: "recipient_limit 0") {
            $0.extensions = CommandExitStatusTests.withoutChunking
            $0.on("RCPT", "452 4.5.3 Too many recipients")
        }
        let recipients = (0..<count).map { "user\($0)@y.example" }
        let started = Date()
        let submitted = try sandbox.run(recipients, input: "Subject: many\n\nx\n", timeout: 240)
        #expect(submitted.status == 0, "\(submitted.summary)")
        #expect(submitted.stderr.contains("queued"), "\(submitted.summary)")
        let run = try sandbox.run(["-qf"], timeout: 240)
        #expect(run.status == 0, "\(run.summary)")
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed < 60, "took \(elapsed) s")
        let listing = try sandbox.run(["-bp"])
        #expect(listing.status == 0, "\(listing.summary)")
        #expect(listing.stdout.contains("user49999@y.example"))
    }
}
