import ApusTestSupport
import Foundation
import Testing

/// delivery.md "Timeouts": each whole reply must arrive within `timeout` of
/// the command that asked for it; a server that drips a byte at a time is a
/// timeout, not a reason to wait.
struct RelayDeadlineTests {
    /// `bytes` sent one per `interval` seconds.
    static func dripped(_ text: String, interval: Double) -> ScriptedResponse {
        .sequence(Array(text.utf8).map { .delayed(interval, .raw([$0])) })
    }

    /// Submits one message to a server that drips `reply` for `event`; checks
    /// that apus queued it after timing out, within 6 s (timeout 3).
    func submitToDrippingServer(
        _ event: String, _ reply: String, interval: Double, what: String
    ) throws -> (ScriptableSMTPServer, ApusSandbox) {
        var configuration = ScriptableSMTPServer.Configuration()
        configuration.on(event, Self.dripped(reply, interval: interval))
        let server = try ScriptableSMTPServer(configuration)
        let sandbox = try ApusSandbox(port: server.port)
        let start = Date()
        let result = try sandbox.run(["rcpt@test.example"], input: message(["Subject: drip"]), timeout: 60)
        let elapsed = Date().timeIntervalSince(start)
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderr.contains("queued") && result.stderr.contains("timed out"), "\(result.summary)")
        #expect(elapsed < 6, "apus waited \(elapsed) s for \(what) with timeout 3")
        return (server, sandbox)
    }

    /// A greeting dripped one byte a second, timeout 3: apus queues in about 3 s.
    @Test func drippedGreetingTimesOut() throws {
        let (server, sandbox) = try submitToDrippingServer(
            "CONNECT", "220 slow.test.example ESMTP\r\n", interval: 1, what: "a greeting")
        defer { server.stop() }
        #expect(server.messages.isEmpty)
        #expect(sandbox.queueFiles().count == 1 && sandbox.queuedMessages().count == 1, "\(sandbox.queueFiles())")
    }

    /// A reply to a later command (EHLO) dripped: the same bound.
    @Test func drippedEHLOReplyTimesOut() throws {
        let (server, _) = try submitToDrippingServer(
            "EHLO", "250-mx.test.example\r\n250 8BITMIME\r\n", interval: 0.5, what: "an EHLO reply")
        server.stop()
    }

    /// A slow but punctual server (each whole reply within the timeout) still works.
    @Test func slowRepliesWithinTheTimeoutAreFine() throws {
        var configuration = ScriptableSMTPServer.Configuration()
        configuration.on("CONNECT", Self.dripped("220 mx ESMTP\r\n", interval: 0.1))
        configuration.on("MAIL", .delayed(1.5, "250 2.1.0 ok"))
        let server = try ScriptableSMTPServer(configuration)
        defer { server.stop() }
        let sandbox = try ApusSandbox(port: server.port)
        let result = try sandbox.run(["rcpt@test.example"], input: message(["Subject: slow"]), timeout: 60)
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.summary)")
        #expect(server.waitForMessages(1).count == 1)
    }
}
