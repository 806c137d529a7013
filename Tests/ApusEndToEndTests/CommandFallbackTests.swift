import ApusTestSupport
import Foundation
import Testing

/// `fallback` relays after the connection was made (delivery.md "SMTP"): a
/// 4xx to MAIL, to every RCPT or after the data sends the message to the next
/// relay, in `-bm` and in queue runs alike; only when every relay failed
/// temporarily is it queued (or kept).
@Suite struct CommandFallbackTests {
    static let input = message(["From: Sender <sender@src.example>", "Subject: fallback"])

    /// A primary relay (without CHUNKING) answering `verb` with 451, and a fallback that accepts.
    static func relays(primaryRefusing verb: String) throws -> (
        primary: ScriptableSMTPServer, fallback: ScriptableSMTPServer
    ) {
        let primary = try scriptedServer {
            $0.extensions = CommandExitStatusTests.withoutChunking
            $0.on(verb, "451 4.3.0 Try again later")
        }
        return (primary, try scriptedServer())
    }

    @Test(arguments: ["MAIL", "RCPT", "."])
    func temporaryRefusalAfterConnectTriesTheFallback(verb: String) throws {
        let (primary, fallback) = try Self.relays(primaryRefusing: verb)
        defer { for server in [primary, fallback] { server.stop() } }
        let sandbox = try ApusSandbox(port: primary.port, settings: "fallback 127.0.0.1:\(fallback.port)")
        let result = try sandbox.run(["a@x.example", "b@x.example"], input: Self.input)
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderr.isEmpty, "\(result.summary)")
        #expect(primary.messages.allSatisfy { !$0.accepted })
        let received = try #require(fallback.messages.first)
        #expect(received.accepted && received.recipientAddresses == ["a@x.example", "b@x.example"])
        #expect(sandbox.queueFiles().isEmpty, "\(sandbox.queueFiles())")
        let log = sandbox.logLines()
        #expect(
            log.count == 2 && log.allSatisfy { $0.contains("status=sent") && $0.contains(":\(fallback.port)") },
            "\(log)")
    }

    /// Every relay says 4xx: queued, naming the last relay's reply.
    @Test func everyRelayRefusingTemporarilyQueues() throws {
        let primary = try scriptedServer { $0.on("MAIL", "451 4.3.0 primary busy") }
        defer { primary.stop() }
        let fallback = try scriptedServer { $0.on("RCPT", "452 4.5.3 fallback busy") }
        defer { fallback.stop() }
        let sandbox = try ApusSandbox(port: primary.port, settings: "fallback 127.0.0.1:\(fallback.port)")
        let result = try sandbox.run(["a@x.example"], input: Self.input)
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderrLines.count == 1 && result.stderr.contains("fallback busy"), "\(result.summary)")
        #expect(sandbox.queuedMessages().count == 1, "\(sandbox.queueFiles())")
    }

    /// A 4xx only to some recipients is no reason to change relays: the
    /// others get the message now, the rest wait in the queue.
    @Test func partialTemporaryRefusalStaysWithTheRelay() throws {
        let primary = try scriptedServer { $0.on("RCPT", occurrence: 2, "452 4.2.2 mailbox full") }
        defer { primary.stop() }
        let fallback = try scriptedServer()
        defer { fallback.stop() }
        let sandbox = try ApusSandbox(port: primary.port, settings: "fallback 127.0.0.1:\(fallback.port)")
        let result = try sandbox.run(["a@x.example", "b@x.example"], input: Self.input)
        #expect(result.status == 0, "\(result.summary)")
        #expect(primary.messages.first?.accepted == true)
        #expect(fallback.messages.isEmpty)
        #expect(sandbox.queuedMessages().count == 1, "\(sandbox.queueFiles())")
    }

    /// A queue run (`-qf`) tries the fallback after a 4xx from the relay too.
    @Test(arguments: ["MAIL", "RCPT", "."])
    func queueRunTriesTheFallbackAfterConnect(verb: String) throws {
        let (primary, fallback) = try Self.relays(primaryRefusing: verb)
        defer { for server in [primary, fallback] { server.stop() } }
        let sandbox = try ApusSandbox(port: primary.port)
        let queued = try sandbox.run(["a@x.example"], input: Self.input)
        #expect(queued.status == 0 && queued.stderr.contains("queued"), "\(queued.summary)")
        try sandbox.writeConfig(sandbox.settings + "fallback 127.0.0.1:\(fallback.port)\n")
        let run = try sandbox.run(["-qf"])
        #expect(run.status == 0, "\(run.summary)")
        let received = try #require(fallback.messages.first)
        #expect(received.accepted && received.recipientAddresses == ["a@x.example"])
        #expect(sandbox.queueFiles().isEmpty, "\(sandbox.queueFiles())")
    }
}
