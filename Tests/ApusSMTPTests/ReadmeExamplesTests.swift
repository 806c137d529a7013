import ApusSMTP
import ApusTestSupport
import Foundation
import Testing

/// The README's two library examples, compiled and run against a real
/// smtp-sink. The code between `// README <name>` and `// END README` is
/// compared with the README's Swift blocks, so the README cannot drift.
@Suite struct ReadmeExamplesTests {
    @Test func oneCallSend() throws {
        let sink = try SMTPSink()
        defer { sink.stop() }
        let server = "127.0.0.1:\(sink.port)"
        // README one-call
        let result = try SMTP.sendMail(
            from: "cron@host.example.com", to: ["admin@example.com", "ops@example.com"],
            headers: .fields([("From", "cron@host.example.com"), ("Subject", "backup done")]),
            body: .lines(["All 42 files copied.", ".hidden stays a line"]),
            server: server)  // "smtp.example.com:587", "[2001:db8::1]:25", default "localhost"
        print(result.dataReply)  // 250 2.0.0 Ok: queued as …
        // END README
        #expect(result.accepted.count == 2)
        let saved = try sink.waitForMessages(1)
        #expect(saved[0].recipientArguments == ["<admin@example.com>", "<ops@example.com>"])
        #expect(saved[0].text.contains("Subject: backup done\n\nAll 42 files copied.\n.hidden stays a line\n"))
    }

    @Test func sessionWithSingleCommands() throws {
        let sink = try SMTPSink()
        defer { sink.stop() }
        let server = "127.0.0.1:\(sink.port)"
        // README session
        let log = SMTPTraceLog()  // or trace: .standardError
        let session = try SMTPSession.open(
            server: server, tls: .none, clientName: "client.example.com", timeout: 30, trace: log.trace)
        defer { session.quit() }
        let offered = session.ehloLines  // the extension lines
        print(offered, session.extensions.pipelining)
        // try session.authenticate(user: "me", password: "secret")  // the strongest mechanism both offer
        try session.mail(from: "me@example.com")
        let outcome = try session.recipient("you@example.com")
        guard outcome.isAccepted else { throw SMTPError(.recipientsRejected, "\(outcome)") }
        let reply = try session.data(.string("Subject: hi\n\nHello over a session.\n"))
        print(reply.code, reply.text())  // 250 …
        _ = try session.noop()
        // END README
        #expect(offered.contains { $0.hasPrefix("PIPELINING") })
        #expect(reply.code == 250)
        #expect(log.lines.contains("C: EHLO client.example.com"))
        let saved = try sink.waitForMessages(1)
        #expect(saved[0].text.contains("Hello over a session."))
    }

    /// The README holds the marked code of each example, verbatim (indentation removed).
    @Test(arguments: ["one-call", "session"])
    func readmeShowsTheCompiledCode(name: String) throws {
        let here = URL(fileURLWithPath: #filePath)
        let root = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let source = try String(contentsOf: here, encoding: .utf8)
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let lines = source.components(separatedBy: "\n")
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "// README \(name)" }),
            let end = lines[start...].firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "// END README" })
        else {
            Issue.record("markers for \(name) missing")
            return
        }
        let body = lines[(start + 1)..<end]
        let indent = body.filter { !$0.isEmpty }.map { $0.prefix(while: { $0 == " " }).count }.min() ?? 0
        let code = body.map { String($0.dropFirst(min(indent, $0.count))) }.joined(separator: "\n")
        #expect(readme.contains(code), "README.md must contain the \(name) example exactly:\n\(code)")
    }
}
