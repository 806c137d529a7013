import ApusTestSupport
import Foundation
import Testing

/// The `log` file: one line per recipient per attempt, in Postfix's style.
@Suite struct CommandLogTests {
    static let input = message(["From: a@src.example", "Subject: log"])

    /// `Nov 23 22:20:34 ID: from=<…>, to=<…>, relay=…, delay=0.00[, tls=…], status=… (…)`.
    static var line: Regex<(Substring, Substring, Substring, Substring, Substring, Substring, Substring)> {
        #/^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ([0-9A-F]{10,}): from=<([^>]*)>, to=<([^>]*)>, relay=(\S+), delay=\d+(?:\.\d+)?, (?:tls=\S+, )?status=(sent|deferred|bounced) \((.+)\)$/#
    }

    @Test func oneLinePerRecipientWhenSent() throws {
        let sink = try SMTPSink()
        let sandbox = try ApusSandbox(port: sink.port)
        let result = try sandbox.run(["-f", "s@src.example", "a@y.example", "b@y.example", "c@y.example"], input: Self.input)
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
        let server = try scriptedServer { $0.on("RCPT", "550 5.1.1 No such user") }
        defer { server.stop() }
        let sandbox = try ApusSandbox(port: server.port)
        let result = try sandbox.run(["a@y.example"], input: Self.input)
        #expect(result.status == 67, "\(result.summary)")
        let line = try #require(sandbox.logLines().first)
        let match = try #require(line.wholeMatch(of: Self.line), "not Postfix style: \(line)")
        #expect(match.5 == "bounced")
        #expect(match.6 == "550 5.1.1 No such user")
    }

    @Test func logOff() throws {
        let sink = try SMTPSink()
        let sandbox = try ApusSandbox(port: sink.port)
        try sandbox.writeConfig(sandbox.settings.replacingOccurrences(of: "log \(sandbox.logPath)", with: "log off"))
        #expect(try sandbox.run(["a@y.example"], input: Self.input).status == 0)
        #expect(!FileManager.default.fileExists(atPath: sandbox.logPath))
    }
}
