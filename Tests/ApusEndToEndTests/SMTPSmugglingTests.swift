import ApusTestSupport
import Foundation
import Testing

/// What the relay receives never carries a bare CR, a bare LF or a NUL.
func expectCleanWire(_ server: ScriptableSMTPServer, sourceLocation: SourceLocation = #_sourceLocation) {
    for connection in server.connections {
        let bytes = connection.received
        for (i, byte) in bytes.enumerated() {
            if byte == 13 && (i + 1 == bytes.count || bytes[i + 1] != 10) {
                Issue.record("bare CR at \(i) on the wire", sourceLocation: sourceLocation)
                return
            }
            if byte == 10 && (i == 0 || bytes[i - 1] != 13) {
                Issue.record("bare LF at \(i) on the wire", sourceLocation: sourceLocation)
                return
            }
            if byte == 0 {
                Issue.record("NUL at \(i) on the wire", sourceLocation: sourceLocation)
                return
            }
        }
    }
}

/// issue #12 item 2: no SMTP smuggling through lone CR / LF, no NUL.
@Suite struct SMTPSmugglingTests {
    static let smuggledBody = "Subject: x\n\na\r.\r\nMAIL FROM:<x@y>\r\nRCPT TO:<evil@x>\r\nDATA\r\nsmuggled\r\n.\r\n"

    /// Over DATA (dot-stuffing) and over BDAT: the lone CR ends the line first,
    /// so the `.` line is stuffed and no second transaction reaches the relay.
    @Test(arguments: [false, true])
    func aBareCRBeforeADotIsNotTheEndOfData(chunking: Bool) throws {
        let (server, sandbox) = try scriptedSandbox {
            if !chunking { $0.extensions = CommandExitStatusTests.withoutChunking }
        }
        let result = try sandbox.run(["-i", "r@y.example"], input: Self.smuggledBody)
        #expect(result.status == 0, "\(result.summary)")
        let messages = server.waitForMessages(1)
        #expect(server.commandLines.filter { $0.uppercased().hasPrefix("MAIL") }.count == 1, "\(server.commandLines)")
        #expect(server.messages.count == 1)
        #expect(messages.first?.recipientAddresses == ["r@y.example"])
        let text = messages.first?.text ?? ""
        #expect(text.contains("\r\na\r\n.\r\nMAIL FROM:<x@y>\r\nRCPT TO:<evil@x>\r\n"), "\(text.debugDescription)")
        expectCleanWire(server)
    }

    /// A header line with a lone CR: two lines on the wire, inside the data.
    @Test func aBareCRInAHeaderEndsTheLine() throws {
        let (server, sandbox) = try scriptedSandbox()
        let result = try sandbox.run(
            ["-i", "r@y.example"], input: "Subject: hi\rRCPT TO:<evil@x>\nFrom: a@src.example\n\nbody\n")
        #expect(result.status == 0, "\(result.summary)")
        let message = try #require(server.waitForMessages(1).first)
        #expect(message.recipientAddresses == ["r@y.example"])
        #expect(message.text.contains("Subject: hi\r\nRCPT TO:<evil@x>\r\n"), "\(message.text.debugDescription)")
        #expect(!server.commandLines.contains { $0.contains("evil") })
        expectCleanWire(server)
    }

    /// A Bcc: hidden behind a lone CR is a header of its own, and removed.
    @Test func aBccBehindABareCRIsRemoved() throws {
        let (server, sandbox) = try scriptedSandbox()
        let result = try sandbox.run(["-i", "r@y.example"], input: "Subject: hi\rBcc: secret@x.example\n\nbody\n")
        #expect(result.status == 0, "\(result.summary)")
        let message = try #require(server.waitForMessages(1).first)
        #expect(!message.text.contains("secret"), "\(message.text.debugDescription)")
        expectCleanWire(server)
    }

    @Test(arguments: ["Subject: a\n\nbo\0dy\n", "Subj\0ect: a\n\nbody\n", "\0"])
    func aNULIsRefusedAndNothingIsSentOrQueued(input: String) throws {
        let (server, sandbox) = try scriptedSandbox()
        let result = try sandbox.run(["-i", "r@y.example"], input: input)
        #expect(result.status == 65, "\(result.summary)")
        #expect(result.stderrLines.first?.contains("NUL") == true, "\(result.summary)")
        #expect(server.messages.isEmpty)
        #expect(!server.commandLines.contains { $0.uppercased().hasPrefix("MAIL") })
        #expect(sandbox.queueFiles().isEmpty)
    }

    /// The queue-run path: a data file holding bare CRs (as an older apus
    /// queued them) reaches the wire with CRLF only.
    @Test func aQueuedMessageIsNormalisedToo() throws {
        let sandbox = try ApusSandbox(refusing: "")
        let queued = try sandbox.run(["-i", "r@y.example"], input: "Subject: q\n\nfirst\n")
        #expect(queued.status == 0, "\(queued.summary)")
        try downgradeToVersionOne(queueDirectory: sandbox.queueDirectory) {
            $0.append(contentsOf: Array("a\r.\r\nMAIL FROM:<x@y>\r\nRCPT TO:<evil@x>\r\n".utf8))
        }

        let server = try scriptedServer { $0.extensions = CommandExitStatusTests.withoutChunking }
        defer { server.stop() }
        try sandbox.writeConfig(sandbox.settings.replacing(#/port \d+/#, with: "port \(server.port)"))
        let run = try sandbox.run(["-qf"])
        #expect(run.status == 0, "\(run.summary)")
        let message = try #require(server.waitForMessages(1).first)
        #expect(message.text.contains("a\r\n.\r\nMAIL FROM:<x@y>\r\n"), "\(message.text.debugDescription)")
        #expect(server.commandLines.filter { $0.uppercased().hasPrefix("MAIL") }.count == 1)
        expectCleanWire(server)
    }

    /// A queued data file holding a NUL (written by an older apus) can never be
    /// sent: it fails at once (notice to the sender) instead of being retried.
    @Test func aQueuedMessageWithANULFails() throws {
        let sandbox = try ApusSandbox(refusing: "")
        let queued = try sandbox.run(["-i", "-f", "s@src.example", "r@y.example"], input: "Subject: q\n\nfirst\n")
        #expect(queued.status == 0, "\(queued.summary)")
        let dataPath = try downgradeToVersionOne(queueDirectory: sandbox.queueDirectory) {
            $0.append(contentsOf: [0x61, 0x00, 0x0D, 0x0A])
        }
        let dataFile = String(dataPath.split(separator: "/").last ?? "")

        let server = try scriptedServer()
        defer { server.stop() }
        try sandbox.writeConfig(sandbox.settings.replacing(#/port \d+/#, with: "port \(server.port)"))
        let run = try sandbox.run(["-qf"])
        #expect(run.status == 0, "\(run.summary)")
        #expect(
            sandbox.logLines().contains {
                $0.contains("to=<r@y.example>") && $0.contains("status=bounced (the queued message cannot be sent")
            }, "\(sandbox.logLines())")
        // Only the failure notice goes out, to the sender, from <>.
        let notice = try #require(server.waitForMessages(1).first, "\(sandbox.queueFiles()) \(sandbox.logLines())")
        #expect(notice.sender == "" && notice.recipientAddresses == ["s@src.example"], "\(notice)")
        #expect(notice.text.contains("NUL"))
        #expect(!server.messages.contains { $0.recipientAddresses.contains("r@y.example") })
        #expect(!sandbox.queueFiles().contains(dataFile))
        expectCleanWire(server)
    }

    /// The -bs path: a lone CR inside DATA is a line end on the relay's side too.
    @Test func theBsPathIsNormalisedToo() throws {
        let (server, sandbox) = try scriptedSandbox { $0.extensions = CommandExitStatusTests.withoutChunking }
        let session =
            "EHLO c\r\nMAIL FROM:<s@src.example>\r\nRCPT TO:<r@y.example>\r\nDATA\r\n"
            + "Subject: bs\r\n\r\na\r.\r\nMAIL FROM:<x@y>\r\n.\r\nQUIT\r\n"
        let result = try sandbox.run(["-bs"], input: session)
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stdout.contains("250 2.0.0 Ok: sent"), "\(result.stdout)")
        let message = try #require(server.waitForMessages(1).first)
        #expect(message.text.contains("a\r\n.\r\nMAIL FROM:<x@y>\r\n"), "\(message.text.debugDescription)")
        #expect(server.commandLines.filter { $0.uppercased().hasPrefix("MAIL") }.count == 1)
        expectCleanWire(server)
    }
}
