import ApusTestSupport
import Foundation
import Testing

/// The `log` file: one line per recipient per attempt, in Postfix's style.
@Suite struct CommandLogTests {
    static let input = message(["From: a@src.example", "Subject: log"])

    /// `Nov 23 22:20:34 ID: from=<…>, to=<…>, relay=…, delay=0.00[, tls=…], dsn=X.Y.Z, status=… (…)`.
    static var line: Regex<(Substring, Substring, Substring, Substring, Substring, Substring, Substring)> {
        #/^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ([0-9A-F]{10,}): from=<([^>]*)>, to=<([^>]*)>, relay=(\S+), delay=\d+(?:\.\d+)?, (?:tls=\S+, )?dsn=[245]\.\d{1,3}\.\d{1,3}, status=(sent|deferred|bounced) \((.+)\)$/#
    }

    @Test func oneLinePerRecipientWhenSent() throws {
        let sink = try SMTPSink()
        let sandbox = try ApusSandbox(port: sink.port)
        let result = try sandbox.run(
            ["-f", "s@src.example", "a@y.example", "b@y.example", "c@y.example"], input: Self.input)
        #expect(result.status == 0, "\(result.summary)")
        let lines = sandbox.logLines()
        #expect(lines.count == 3, "\(lines)")
        var ids: Set<Substring> = []
        var recipients: [Substring] = []
        for line in lines {
            let match = try #require(line.wholeMatch(of: Self.line), "not Postfix style: \(line)")
            ids.insert(match.1)
            #expect(match.2 == "s@src.example")
            recipients.append(match.3)
            #expect(match.4 == "127.0.0.1[127.0.0.1]:\(sink.port)")
            #expect(match.5 == "sent")
            #expect(match.6.hasPrefix("250"))
        }
        #expect(ids.count == 1)
        #expect(recipients == ["a@y.example", "b@y.example", "c@y.example"])
    }

    @Test func deferredWithoutAConnectionSaysRelayNone() throws {
        let sandbox = try ApusSandbox(refusing: "")
        let result = try sandbox.run(["a@y.example", "b@y.example"], input: Self.input)
        #expect(result.status == 0, "\(result.summary)")
        let lines = sandbox.logLines()
        #expect(lines.count == 2, "\(lines)")
        let queuedID = result.stderr.split(separator: " ").dropFirst(2).first?.dropLast() ?? ""
        for line in lines {
            let match = try #require(line.wholeMatch(of: Self.line), "not Postfix style: \(line)")
            #expect(match.1 == queuedID, "the log names the queue id")
            #expect(match.4 == "none")
            #expect(match.5 == "deferred")
            #expect(match.6.contains("Connection refused"))
        }
    }

    @Test func bouncedRecipient() throws {
        let (_, sandbox) = try scriptedSandbox { $0.on("RCPT", "550 5.1.1 No such user") }
        let result = try sandbox.run(["a@y.example"], input: Self.input)
        #expect(result.status == 67, "\(result.summary)")
        let line = try #require(sandbox.logLines().first)
        let match = try #require(line.wholeMatch(of: Self.line), "not Postfix style: \(line)")
        #expect(match.5 == "bounced")
        #expect(match.6 == "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 No such user (in reply to RCPT TO command)")
        #expect(line.contains(", dsn=5.1.1, "))
    }

    /// A 4xx to RCPT in Postfix's words, in the log, the queued line and mailq.
    @Test func deferredInPostfixWords() throws {
        let (server, sandbox) = try scriptedSandbox { $0.on("RCPT", "451 4.3.0 Try again later") }
        let result = try sandbox.run(["a@y.example"], input: Self.input)
        #expect(result.status == 0, "\(result.summary)")
        let words = "host 127.0.0.1[127.0.0.1] said: 451 4.3.0 Try again later (in reply to RCPT TO command)"
        #expect(result.stderr.contains(words), "\(result.summary)")
        let line = try #require(sandbox.logLines().first)
        let match = try #require(line.wholeMatch(of: Self.line), "not Postfix style: \(line)")
        #expect(match.5 == "deferred" && match.6 == words, "\(line)")
        #expect(match.4 == "127.0.0.1[127.0.0.1]:\(server.port)")
        #expect(line.contains(", dsn=4.3.0, "), "\(line)")
        let json = try sandbox.run(["-bp", "--json"])
        #expect(json.stdout.contains("\"delay_reason\": \"\(words)\""), "\(json.stdout)")
        let text = try sandbox.run(["-bp"])
        #expect(text.stdout.contains("(\(words); next attempt "), "\(text.stdout)")
    }

    /// A deferral over STARTTLS: the deferred line says tls= too.
    @Test func deferredLineOverTLSSaysTLS() throws {
        let certificates = try TestCertificates.shared()
        let server = try scriptedServer {
            $0.extensions.append("STARTTLS")
            $0.startTLS = TLSServerStream.wrapper(certificates.server)
            $0.on("RCPT", "451 4.3.0 Try again later")
        }
        defer { server.stop() }
        let sandbox = try ApusSandbox(
            port: server.port, host: "localhost", settings: "tls starttls\ntls_trust_file \(certificates.caFile)")
        let result = try sandbox.run(["a@y.example"], input: Self.input)
        #expect(result.status == 0 && result.stderr.contains("queued"), "\(result.summary)")
        let line = try #require(sandbox.logLines().first)
        #expect(line.wholeMatch(of: Self.line) != nil, "not Postfix style: \(line)")
        #expect(line.contains(", tls=TLSv1.3, dsn=4.3.0, status=deferred (host "), "\(line)")
    }

    /// A 452 to one recipient and 250 to the other: the sent and the
    /// deferred line carry the same queue id (the one mailq shows).
    @Test func splitSubmissionHasOneQueueID() throws {
        let (_, sandbox) = try scriptedSandbox { $0.on("RCPT", occurrence: 2, "452 4.2.2 Mailbox full") }
        let result = try sandbox.run(["a@y.example", "b@y.example"], input: Self.input)
        #expect(result.status == 0, "\(result.summary)")
        let queuedID = result.stderr.split(separator: " ").dropFirst(2).first?.dropLast() ?? ""
        let lines = sandbox.logLines()
        #expect(lines.count == 2, "\(lines)")
        let matches = lines.compactMap { $0.wholeMatch(of: Self.line) }
        #expect(matches.count == 2, "\(lines)")
        #expect(matches.allSatisfy { $0.1 == queuedID }, "\(lines) vs \(queuedID)")
        #expect(Set(matches.map { String($0.5) }) == ["sent", "deferred"])
    }

    /// A local refusal (the server's SIZE) is logged, and the session ends with QUIT.
    @Test func localRefusalIsLoggedAndQuits() throws {
        let (server, sandbox) = try scriptedSandbox {
            $0.extensions = ["PIPELINING", "SIZE 100", "ENHANCEDSTATUSCODES"]
        }
        let result = try sandbox.run(
            ["a@y.example"], input: message(["Subject: big"], body: String(repeating: "b\n", count: 200)))
        #expect(result.status == 65, "\(result.summary)")
        let line = try #require(sandbox.logLines().first)
        let match = try #require(line.wholeMatch(of: Self.line), "not Postfix style: \(line)")
        #expect(match.5 == "bounced" && line.contains(", dsn=5.3.4, "), "\(line)")
        #expect(server.waitForClosedConnections(1))
        #expect(server.connections.first?.verbs.last == "QUIT", "\(server.connections.first?.verbs ?? [])")
    }

    /// SMTPUTF8 refused locally: logged, and QUIT.
    @Test func utf8RefusalIsLoggedAndQuits() throws {
        let (server, sandbox) = try scriptedSandbox {
            $0.extensions = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"]
        }
        let result = try sandbox.run(["j\u{fc}rgen@y.example"], input: Self.input)
        #expect(result.status == 65, "\(result.summary)")
        let line = try #require(sandbox.logLines().first)
        #expect(line.contains(", dsn=5.6.7, status=bounced ("), "\(line)")
        #expect(server.waitForClosedConnections(1))
        #expect(server.connections.first?.verbs.last == "QUIT", "\(server.connections.first?.verbs ?? [])")
    }

    @Test func logOff() throws {
        let sink = try SMTPSink()
        let sandbox = try ApusSandbox(port: sink.port)
        try sandbox.writeConfig(sandbox.settings.replacingOccurrences(of: "log \(sandbox.logPath)", with: "log off"))
        #expect(try sandbox.run(["a@y.example"], input: Self.input).status == 0)
        #expect(!FileManager.default.fileExists(atPath: sandbox.logPath))
    }
}
