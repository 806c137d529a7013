import ApusTestSupport
import Foundation
import Testing

/// DSN and SMTPUTF8 parameters on the wire (delivery.md "SMTP"): ORCPT on
/// every RCPT when the user asked for DSN and the server offers it, and
/// SMTPUTF8 when only the headers hold UTF-8 and the server offers it.
@Suite struct CommandDSNTests {
    static let input = message(["From: s@src.example", "Subject: dsn"])

    @Test func orcptGoesWithEveryRecipientWhenDSNIsAsked() throws {
        let (server, sandbox) = try scriptedSandbox()
        let result = try sandbox.run(["-N", "failure", "a+b@x.example", "c=d@x.example"], input: Self.input)
        #expect(result.status == 0, "\(result.summary)")
        let rcpts = server.commandLines.filter { $0.hasPrefix("RCPT") }
        #expect(
            rcpts == [
                "RCPT TO:<a+b@x.example> NOTIFY=FAILURE ORCPT=rfc822;a+2Bb@x.example",
                "RCPT TO:<c=d@x.example> NOTIFY=FAILURE ORCPT=rfc822;c+3Dd@x.example",
            ], "\(rcpts)")
        // RET alone asks for DSN too.
        let ret = try sandbox.run(["-R", "hdrs", "e@x.example"], input: Self.input)
        #expect(ret.status == 0, "\(ret.summary)")
        #expect(
            server.commandLines.contains("RCPT TO:<e@x.example> ORCPT=rfc822;e@x.example"), "\(server.commandLines)")
    }

    @Test func noORCPTWithoutDSNOrWhenNotOffered() throws {
        let (server, sandbox) = try scriptedSandbox()
        #expect(try sandbox.run(["a@x.example"], input: Self.input).status == 0)
        let plain = try scriptedServer { $0.extensions = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"] }
        defer { plain.stop() }
        let other = try ApusSandbox(port: plain.port)
        #expect(try other.run(["-N", "failure", "b@x.example"], input: Self.input).status == 0)
        #expect(server.commandLines.filter { $0.hasPrefix("RCPT") } == ["RCPT TO:<a@x.example>"])
        #expect(plain.commandLines.filter { $0.hasPrefix("RCPT") } == ["RCPT TO:<b@x.example>"])
    }

    /// The queue keeps ORCPT and a queue run sends it once (not `rfc822;rfc822;`).
    @Test func queuedMessageKeepsORCPT() throws {
        let (server, sandbox) = try scriptedSandbox { $0.on("MAIL", connection: 1, "451 4.3.0 later") }
        let queued = try sandbox.run(["-N", "success", "a@x.example"], input: Self.input)
        #expect(queued.status == 0 && queued.stderr.contains("queued"), "\(queued.summary)")
        #expect(try sandbox.run(["-qf"]).status == 0)
        let rcpts = server.commandLines.filter { $0.hasPrefix("RCPT") }
        #expect(rcpts.last == "RCPT TO:<a@x.example> NOTIFY=SUCCESS ORCPT=rfc822;a@x.example", "\(rcpts)")
        #expect(server.messages.last?.accepted == true)
    }

    @Test func utf8OnlyInHeadersRequestsSMTPUTF8WhenOffered() throws {
        let (server, sandbox) = try scriptedSandbox()
        let input = message(["From: J\u{fc}rgen <s@src.example>", "Subject: Gr\u{fc}\u{df}e"])
        #expect(try sandbox.run(["a@x.example"], input: input).status == 0)
        #expect(
            server.messages.first?.mailFrom.contains("SMTPUTF8") == true, "\(server.messages.first?.mailFrom ?? "")")
        // Without SMTPUTF8 on offer, delivered anyway (as Postfix does).
        let plain = try scriptedServer { $0.extensions = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"] }
        defer { plain.stop() }
        let other = try ApusSandbox(port: plain.port)
        let result = try other.run(["a@x.example"], input: input)
        #expect(result.status == 0, "\(result.summary)")
        #expect(plain.messages.first?.mailFrom.contains("SMTPUTF8") == false)
        // ASCII headers: no SMTPUTF8.
        #expect(try sandbox.run(["b@x.example"], input: Self.input).status == 0)
        #expect(server.messages.last?.mailFrom.contains("SMTPUTF8") == false)
    }

    /// Against the real Postfix (it offers DSN and SMTPUTF8): ORCPT and
    /// SMTPUTF8 are accepted and the message delivered.
    @Test func dsnAndUTF8HeadersThroughPostfix() throws {
        let postfix = try PostfixServer.start(InteropTests.options)
        defer { postfix.stop() }
        let client = try InteropTests.Client(postfix: postfix)
        let result = try client.run(
            client.sendmail, ["-N", "success,failure", "-R", "hdrs", "-V", "env-1", "-i", "bob@example.com"],
            input: "From: J\u{fc}rgen <alice@example.net>\nSubject: Gr\u{fc}\u{df}e marker-dsn\n\nhi\n")
        #expect(result.status == 0, "\(result.stderr)")
        let mail = try InteropTests.message(postfix, containing: "marker-dsn")
        #expect(mail.headerValues("Delivered-To") == ["bob@example.com"])
        #expect(
            mail.header("Received", contains: "UTF8SMTPS") || mail.header("Received", contains: "UTF8SMTPSA"),
            "\(mail.text.prefix(600))")
    }
}
