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

    /// A greeting dripped one byte a second, timeout 3: apus queues in about 3 s.
    @Test func drippedGreetingTimesOut() throws {
        var configuration = ScriptableSMTPServer.Configuration()
        configuration.on("CONNECT", Self.dripped("220 slow.test.example ESMTP\r\n", interval: 1))
        let server = try ScriptableSMTPServer(configuration)
        defer { server.stop() }
        let sandbox = try ApusSandbox(port: server.port)
        let start = Date()
        let result = try sandbox.run(["rcpt@test.example"], input: message(["Subject: drip"]), timeout: 60)
        let elapsed = Date().timeIntervalSince(start)
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderr.contains("queued") && result.stderr.contains("timed out"), "\(result.summary)")
        #expect(elapsed < 6, "apus waited \(elapsed) s for a greeting with timeout 3")
        #expect(server.messages.isEmpty)
        #expect(sandbox.queueFiles().count == 1 && sandbox.queuedMessages().count == 1, "\(sandbox.queueFiles())")
    }

    /// A reply to a later command (EHLO) dripped: the same bound.
    @Test func drippedEHLOReplyTimesOut() throws {
        var configuration = ScriptableSMTPServer.Configuration()
        configuration.on("EHLO", Self.dripped("250-mx.test.example\r\n250 8BITMIME\r\n", interval: 0.5))
        let server = try ScriptableSMTPServer(configuration)
        defer { server.stop() }
        let sandbox = try ApusSandbox(port: server.port)
        let start = Date()
        let result = try sandbox.run(["rcpt@test.example"], input: message(["Subject: drip"]), timeout: 60)
        let elapsed = Date().timeIntervalSince(start)
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderr.contains("queued") && result.stderr.contains("timed out"), "\(result.summary)")
        #expect(elapsed < 6, "apus waited \(elapsed) s for an EHLO reply with timeout 3")
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
