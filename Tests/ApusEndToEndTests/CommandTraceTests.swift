import ApusTestSupport
import Foundation
import Testing

/// `-v` and `-X FILE`: the SMTP dialogue, with credentials redacted everywhere.
@Suite struct CommandTraceTests {
    static let input = message(["From: a@src.example", "Subject: trace"])

    @Test func verbosePrintsTheDialogueOnStderr() throws {
        let sink = try SMTPSink()
        let sandbox = try ApusSandbox(port: sink.port)
        let result = try sandbox.run(["-v", "a@y.example"], input: Self.input)
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stdout.isEmpty)
        for expected in [
            "S: 220 ", "C: EHLO test.example", "C: MAIL FROM:<", "C: RCPT TO:<a@y.example>", "C: DATA", "C: QUIT",
        ] {
            #expect(result.stderr.contains(expected), "no \(expected) in \(result.stderr)")
        }
        #expect(try sink.waitForMessages(1).count == 1)
    }

    @Test func traceFileIsAppended() throws {
        let sink = try SMTPSink()
        let sandbox = try ApusSandbox(port: sink.port)
        let trace = sandbox.directory.file("trace.log")
        try sandbox.directory.write("trace.log", "earlier line\n", mode: 0o600)
        for recipient in ["a@y.example", "b@y.example"] {
            let result = try sandbox.run(["-X", trace, recipient], input: Self.input)
            #expect(result.status == 0, "\(result.summary)")
            #expect(result.stderr.isEmpty, "-X alone prints nothing: \(result.summary)")
        }
        let text = try String(contentsOfFile: trace, encoding: .utf8)
        #expect(text.hasPrefix("earlier line\n"))
        #expect(text.components(separatedBy: "C: EHLO test.example").count == 3, "\(text)")
        #expect(text.contains("C: RCPT TO:<a@y.example>") && text.contains("C: RCPT TO:<b@y.example>"))
        // Attached value, and both sinks at once.
        let both = try sandbox.run(["-v", "-X\(trace)", "c@y.example"], input: Self.input)
        #expect(both.stderr.contains("C: RCPT TO:<c@y.example>"))
        #expect(try String(contentsOfFile: trace, encoding: .utf8).contains("C: RCPT TO:<c@y.example>"))
    }

    /// A new -X file is created mode 0600.
    @Test func newTraceFileIsPrivate() throws {
        let sink = try SMTPSink()
        let sandbox = try ApusSandbox(port: sink.port)
        let trace = sandbox.directory.file("new-trace.log")
        #expect(try sandbox.run(["-X", trace, "a@y.example"], input: Self.input).status == 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: trace)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    /// AUTH PLAIN and LOGIN (loopback allows them in clear): the password and
    /// its base64 forms never appear in stderr, the -X file, the log or the queue.
    @Test(arguments: ["plain", "login"])
    func credentialsNeverAppear(mechanism: String) throws {
        let user = "alice@src.example"
        let password = "s3cr3t-Pa55-\(mechanism)"
        let server = try scriptedServer {
            $0.extensions += ["AUTH PLAIN LOGIN"]
            $0.authenticate = AuthExchange.accepting(user: user, password: password)
            // The second message is deferred, so it sits in the queue.
            $0.on("MAIL", connection: 2, "451 4.3.0 Later")
        }
        defer { server.stop() }
        let sandbox = try ApusSandbox(
            port: server.port, settings: "auth \(mechanism)\nuser \(user)\npassword \(password)")
        let trace = sandbox.directory.file("trace.log")
        let sent = try sandbox.run(["-v", "-X", trace, "a@y.example"], input: Self.input)
        #expect(sent.status == 0, "\(sent.summary)")
        #expect(server.messages.first?.accepted == true)
        #expect(server.connections.first?.verbs.contains("AUTH") == true)
        let queued = try sandbox.run(["-v", "-X", trace, "b@y.example"], input: Self.input)
        #expect(queued.status == 0, "\(queued.summary)")
        #expect(queued.stderr.contains("apus: queued "), "\(queued.summary)")
        #expect(sandbox.queuedMessages().count == 1, "\(sandbox.queueFiles())")

        let secrets = [
            password, Data(password.utf8).base64EncodedString(),
            Data("\0\(user)\0\(password)".utf8).base64EncodedString(),
            Data("\(user)\0\(user)\0\(password)".utf8).base64EncodedString(),
        ]
        let traceText = try String(contentsOfFile: trace, encoding: .utf8)
        #expect(traceText.contains("AUTH"), "\(traceText)")
        let places = [
            ("stderr", sent.stderr + queued.stderr), ("stdout", sent.stdout + queued.stdout), ("-X file", traceText),
            ("log", sandbox.logLines().joined(separator: "\n")), ("queue", sandbox.queueText()),
        ]
        for (place, text) in places {
            for secret in secrets {
                #expect(!text.contains(secret), "\(place) holds a secret: \(text)")
            }
        }
    }

    /// The wrong password: AUTH fails, which is temporary (queued), and nothing leaks either.
    @Test func refusedAuthenticationIsQueued() throws {
        let server = try authServer(user: "alice", password: "right")
        defer { server.stop() }
        let sandbox = try ApusSandbox(port: server.port, settings: "auth plain\nuser alice\npassword wrong-Pa55")
        let result = try sandbox.run(["-v", "a@y.example"], input: Self.input)
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderrLines.last?.hasPrefix("apus: queued ") == true, "\(result.summary)")
        #expect(result.stderr.contains("535"), "\(result.summary)")
        #expect(!result.stderr.contains("wrong-Pa55"))
        #expect(!sandbox.queueText().contains("wrong-Pa55"))
        #expect(server.messages.isEmpty)
    }
}
