import ApusTestSupport
import Foundation
import Testing

/// A scriptable server configured by `change`.
func scriptedServer(
    _ change: (inout ScriptableSMTPServer.Configuration) -> Void = { _ in }
) throws -> ScriptableSMTPServer {
    var configuration = ScriptableSMTPServer.Configuration()
    configuration.readTimeout = 5
    change(&configuration)
    return try ScriptableSMTPServer(configuration)
}

/// A scriptable server that also offers AUTH PLAIN LOGIN and accepts `user` with `password`.
func authServer(user: String, password: String) throws -> ScriptableSMTPServer {
    try scriptedServer {
        $0.extensions += ["AUTH PLAIN LOGIN"]
        $0.authenticate = AuthExchange.accepting(user: user, password: password)
    }
}

/// Every row of cli.md's exit-status table, against the scriptable server.
@Suite struct CommandExitStatusTests {
    /// What the scriptable server offers, without CHUNKING (so DATA and its `.` reply are used).
    static let withoutChunking = ["PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN"]
    static let input = message(["From: Sender <sender@src.example>", "Subject: status"])
    static var queuedLine: Regex<Substring> { #/^apus: queued [0-9A-F]{10,}: .+$/# }

    // MARK: - 0

    @Test func sentExitsZeroSilently() throws {
        let (server, sandbox) = try scriptedSandbox()
        let result = try sandbox.run(["a@x.example", "b@x.example"], input: Self.input)
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderr.isEmpty && result.stdout.isEmpty, "\(result.summary)")
        let received = server.messages
        #expect(received.count == 1)
        #expect(received.first?.accepted == true)
        #expect(received.first?.recipientAddresses == ["a@x.example", "b@x.example"])
        #expect(sandbox.queueFiles().isEmpty)
    }

    /// Checks the queued outcome: exit 0, one `apus: queued ID: reason` line, files in the queue.
    func expectQueued(_ result: SubprocessResult, _ sandbox: ApusSandbox, reason: String) {
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderrLines.count == 1, "\(result.summary)")
        let line = result.stderrLines.first ?? ""
        #expect(line.wholeMatch(of: Self.queuedLine) != nil, "\(line)")
        #expect(reason.isEmpty || line.contains(reason), "\(line) does not name \(reason)")
        #expect(sandbox.queuedMessages().count == 1, "\(sandbox.queueFiles())")
        if let id = line.split(separator: " ").dropFirst(2).first?.dropLast() {
            #expect(sandbox.queueFiles().contains { $0.contains(id) }, "\(sandbox.queueFiles()) lacks \(id)")
        }
    }

    @Test(arguments: ["CONNECT", "EHLO", "MAIL", "RCPT", "DATA", "."])
    func temporaryFailureIsQueued(verb: String) throws {
        let (server, sandbox) = try scriptedSandbox {
            $0.extensions = Self.withoutChunking
            $0.on(verb, "451 4.3.0 Try again later")
        }
        let result = try sandbox.run(["a@x.example"], input: Self.input)
        expectQueued(result, sandbox, reason: "451")
        if verb == "." { #expect(server.messages.count == 1 && server.messages.allSatisfy { !$0.accepted }) }
    }

    @Test func refusedConnectionIsQueued() throws {
        let sandbox = try ApusSandbox(refusing: "")
        let result = try sandbox.run(["a@x.example"], input: Self.input)
        expectQueued(result, sandbox, reason: "Connection refused")
        #expect(sandbox.logLines().contains { $0.contains("relay=none") && $0.contains("status=deferred") })
    }

    @Test func timeoutIsQueued() throws {
        let (_, sandbox) = try scriptedSandbox(settings: "timeout 1") { $0.on("MAIL", .hang) }
        try sandbox.writeConfig(sandbox.settings.replacingOccurrences(of: "timeout 3\n", with: ""))
        let started = Date()
        let result = try sandbox.run(["a@x.example"], input: Self.input)
        #expect(Date().timeIntervalSince(started) < 8)
        expectQueued(result, sandbox, reason: "")
    }

    /// 4xx to one RCPT, the others accepted: sent to them now, queued for the one.
    @Test func partlyDeferredRecipients() throws {
        let (server, sandbox) = try scriptedSandbox { $0.on("RCPT", occurrence: 2, "450 4.2.1 Mailbox busy") }
        let result = try sandbox.run(["a@x.example", "b@x.example", "c@x.example"], input: Self.input)
        expectQueued(result, sandbox, reason: "b@x.example")
        #expect(!(result.stderrLines.first ?? "").contains("a@x.example"))
        let accepted = server.messages.filter(\.accepted)
        #expect(accepted.map(\.recipientAddresses) == [["a@x.example", "c@x.example"]])
        let envelope = sandbox.queueText()
        #expect(envelope.contains("b@x.example"))
    }

    // MARK: - 64

    @Test func noRecipientsIsUsage() throws {
        let sandbox = try ApusSandbox(refusing: "")
        for arguments in [[], ["-t"], ["-t", "-i"]] {
            let result = try sandbox.run(arguments, input: message(["Subject: nobody"]))
            #expect(result.status == 64, "\(arguments): \(result.summary)")
            #expect(result.stderrLines.count == 1)
            #expect(result.stderr.hasPrefix("apus: no recipients"), "\(result.summary)")
        }
        // Only an empty group: still nobody.
        let group = try sandbox.run(["-t"], input: message(["To: undisclosed-recipients:;"]))
        #expect(group.status == 64, "\(group.summary)")
        #expect(sandbox.queueFiles().isEmpty)
    }

    // MARK: - 65

    @Test(arguments: ["a<b@x.example", "a@x.example>", "bad@@x.example", "a\nb@x.example", "\"open@x.example"])
    func badAddressIsDataError(address: String) throws {
        let (server, sandbox) = try scriptedSandbox()
        let result = try sandbox.run([address], input: Self.input)
        #expect(result.status == 65, "\(result.summary)")
        #expect(result.stderrLines.count == 1, "\(result.summary)")
        #expect(server.commandLines.allSatisfy { !$0.hasPrefix("RCPT") }, "\(server.commandLines)")
        #expect(sandbox.queueFiles().isEmpty)
    }

    @Test func badHeaderAddressWithTIsDataError() throws {
        let (server, sandbox) = try scriptedSandbox()
        let result = try sandbox.run(["-t"], input: message(["To: <unclosed@x.example"]))
        #expect(result.status == 65, "\(result.summary)")
        #expect(server.messages.isEmpty)
    }

    @Test func overlongHeaderLineIsDataError() throws {
        let (server, sandbox) = try scriptedSandbox()
        let long = "X-Long: " + String(repeating: "h", count: 1000)
        let result = try sandbox.run(["a@x.example"], input: message([long]))
        #expect(result.status == 65, "\(result.summary)")
        #expect(result.stderr.contains("998"), "\(result.summary)")
        #expect(server.messages.isEmpty)
    }

    @Test func overlongLineInNonTextMultipartIsDataError() throws {
        let (server, sandbox) = try scriptedSandbox()
        let body = """
            --b1
            Content-Type: application/octet-stream

            \(String(repeating: "A", count: 1200))
            --b1--

            """
        let input = message(
            ["MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=\"b1\"", "Subject: mp"], body: body)
        let result = try sandbox.run(["a@x.example"], input: input)
        #expect(result.status == 65, "\(result.summary)")
        #expect(result.stderrLines.count == 1, "\(result.summary)")
        #expect(server.messages.isEmpty)
        #expect(sandbox.queueFiles().isEmpty)
    }

    /// The same long line in single-part text is wrapped with quoted-printable and sent.
    @Test func overlongLineInPlainTextIsWrapped() throws {
        let (server, sandbox) = try scriptedSandbox()
        let result = try sandbox.run(
            ["a@x.example"], input: message(["Subject: long"], body: String(repeating: "w", count: 1500) + "\n"))
        #expect(result.status == 0, "\(result.summary)")
        let received = try #require(server.messages.first)
        #expect(received.header("Content-Transfer-Encoding") == ["quoted-printable"])
        let lines = received.text.split(separator: "\r\n")
        #expect(lines.allSatisfy { $0.utf8.count <= 998 })
    }

    @Test(arguments: [true, false])
    func overTheServersSizeLimitIsDataError(chunking: Bool) throws {
        let (server, sandbox) = try scriptedSandbox {
            $0.extensions =
                ["PIPELINING", "SIZE 100", "8BITMIME", "ENHANCEDSTATUSCODES"] + (chunking ? ["CHUNKING"] : [])
        }
        let result = try sandbox.run(
            ["a@x.example"], input: message(["Subject: big"], body: String(repeating: "b\n", count: 200)))
        #expect(result.status == 65, "\(result.summary)")
        #expect(result.stderrLines.count == 1, "\(result.summary)")
        let verbs = server.connections.flatMap(\.verbs)
        #expect(!verbs.contains("DATA") && !verbs.contains("BDAT"), "\(verbs)")
        #expect(server.messages.isEmpty)
        #expect(sandbox.queueFiles().isEmpty)
    }

    @Test func utf8AddressWithoutSMTPUTF8IsDataError() throws {
        let (server, sandbox) = try scriptedSandbox {
            $0.extensions = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"]
        }
        let result = try sandbox.run(["jürgen@x.example"], input: Self.input)
        #expect(result.status == 65, "\(result.summary)")
        #expect(result.stderrLines.count == 1, "\(result.summary)")
        #expect(result.stderr.contains("SMTPUTF8"), "\(result.summary)")
        #expect(server.messages.isEmpty)
    }

    @Test func utf8AddressWithSMTPUTF8IsSent() throws {
        let (server, sandbox) = try scriptedSandbox()
        let result = try sandbox.run(["jürgen@x.example"], input: Self.input)
        #expect(result.status == 0, "\(result.summary)")
        let received = try #require(server.messages.first)
        #expect(received.mailFrom.contains("SMTPUTF8"), "\(received.mailFrom)")
        #expect(received.recipientAddresses == ["jürgen@x.example"])
    }

    // MARK: - 67

    @Test(arguments: [true, false])
    func permanentRefusalOfOneRecipientSendsNothing(chunking: Bool) throws {
        let (server, sandbox) = try scriptedSandbox {
            $0.extensions = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"] + (chunking ? ["CHUNKING"] : [])
            $0.on("RCPT", occurrence: 2, "550 5.1.1 <b@x.example>: Recipient address rejected")
        }
        let result = try sandbox.run(["a@x.example", "b@x.example", "c@x.example"], input: Self.input)
        #expect(result.status == 67, "\(result.summary)")
        let lines = result.stderrLines
        #expect(lines.count == 2, "\(result.summary)")
        #expect(lines.first?.hasPrefix("apus: ") == true)
        #expect(lines.dropFirst().first?.contains("b@x.example") == true)
        #expect(lines.dropFirst().first?.contains("550") == true)
        server.waitForClosedConnections(1)
        // MAIL, the RCPTs and DATA/BDAT went in one write; no message was completed.
        let connection = try #require(server.connections.first)
        #expect(
            connection.verbBatches.contains { $0.starts(with: ["MAIL", "RCPT", "RCPT", "RCPT"]) },
            "\(connection.verbBatches)")
        #expect(server.messages.filter(\.accepted).isEmpty, "\(server.messages)")
        #expect(sandbox.queueFiles().isEmpty)
        #expect(sandbox.logLines().filter { $0.contains("status=bounced") }.count == 1, "\(sandbox.logLines())")
    }

    @Test func oneDetailLinePerRefusedRecipient() throws {
        let (server, sandbox) = try scriptedSandbox {
            $0.on("RCPT", occurrence: 1, "550 5.1.1 No such user here")
            $0.on("RCPT", occurrence: 3, "553 5.1.3 Bad destination")
        }
        let result = try sandbox.run(["a@x.example", "b@x.example", "c@x.example"], input: Self.input)
        #expect(result.status == 67, "\(result.summary)")
        #expect(result.stderrLines.count == 3, "\(result.summary)")
        #expect(result.stderrLines.dropFirst().first?.contains("a@x.example") == true)
        #expect(result.stderrLines.last?.contains("c@x.example") == true)
        #expect(result.stderrLines.last?.contains("553") == true)
        #expect(server.messages.filter(\.accepted).isEmpty)
    }

    // MARK: - 69

    @Test(arguments: [("MAIL", true), (".", false), ("BDAT", true)])
    func permanentRefusalOfTheMessageIsUnavailable(verb: String, chunking: Bool) throws {
        let (_, sandbox) = try scriptedSandbox {
            $0.extensions = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"] + (chunking ? ["CHUNKING"] : [])
            $0.on(verb, "554 5.7.1 Message refused")
        }
        let result = try sandbox.run(["a@x.example"], input: Self.input)
        #expect(result.status == 69, "\(result.summary)")
        #expect(result.stderrLines.count == 1, "\(result.summary)")
        #expect(result.stderr.contains("554 5.7.1 Message refused"), "\(result.summary)")
        #expect(sandbox.queueFiles().isEmpty)
        #expect(sandbox.logLines().contains { $0.contains("status=bounced") }, "\(sandbox.logLines())")
    }

    // MARK: - 75, 76

    @Test(arguments: ["MAIL", "CONNECT", "."])
    func temporaryFailureWithQueueOffIsTempFail(verb: String) throws {
        let (_, sandbox) = try scriptedSandbox(settings: "queue off") {
            $0.extensions = Self.withoutChunking
            $0.on(verb, "451 4.3.0 Try again later")
        }
        let result = try sandbox.run(["a@x.example"], input: Self.input)
        #expect(result.status == 75, "\(result.summary)")
        #expect(result.stderrLines.count == 1, "\(result.summary)")
        #expect(result.stderr.contains("451"), "\(result.summary)")
        #expect(sandbox.queueFiles().isEmpty, "\(sandbox.queueFiles())")
    }

    @Test func refusedConnectionWithQueueOffIsTempFail() throws {
        let sandbox = try ApusSandbox(refusing: "queue off")
        let result = try sandbox.run(["a@x.example"], input: Self.input)
        #expect(result.status == 75, "\(result.summary)")
        #expect(result.stderrLines.count == 1, "\(result.summary)")
        #expect(sandbox.queueFiles().isEmpty)
    }

    @Test(arguments: ["CONNECT", "MAIL", "."])
    func protocolGarbageWithQueueOffIsProtocolError(verb: String) throws {
        let (_, sandbox) = try scriptedSandbox(settings: "queue off") {
            $0.extensions = Self.withoutChunking
            $0.on(verb, .garbage)
        }
        let result = try sandbox.run(["a@x.example"], input: Self.input)
        #expect(result.status == 76, "\(result.summary)")
        #expect(result.stderrLines.count == 1, "\(result.summary)")
        #expect(sandbox.queueFiles().isEmpty)
    }

    @Test func protocolGarbageWithTheQueueOnIsQueued() throws {
        let (_, sandbox) = try scriptedSandbox { $0.on("MAIL", .garbage) }
        expectQueued(try sandbox.run(["a@x.example"], input: Self.input), sandbox, reason: "")
    }

    // MARK: - 78

    @Test func unknownKeyIsConfigErrorNamingFileLineAndKey() throws {
        let sandbox = try ApusSandbox(refusing: "")
        try sandbox.writeConfig(sandbox.settings + "# a comment\n\ncolour blue\n")
        let result = try sandbox.run(["a@x.example"], input: Self.input)
        #expect(result.status == 78, "\(result.summary)")
        #expect(result.stderrLines.count == 1, "\(result.summary)")
        let lineNumber = sandbox.settings.split(separator: "\n", omittingEmptySubsequences: false).count - 1
        #expect(result.stderr.contains("\(sandbox.configPath):\(lineNumber)"), "\(result.summary)")
        #expect(result.stderr.contains("colour"), "\(result.summary)")
    }

    @Test func hostWideKeyInAnAccountIsConfigError() throws {
        let sandbox = try ApusSandbox(refusing: "account other\nqueue off")
        let result = try sandbox.run(["a@x.example"], input: Self.input)
        #expect(result.status == 78, "\(result.summary)")
        #expect(result.stderr.contains("queue"), "\(result.summary)")
    }

    @Test func missingConfigFileIsConfigError() throws {
        let sandbox = try ApusSandbox(refusing: "")
        let missing = sandbox.directory.file("no-such.conf")
        for arguments in [["a@x.example"], ["-bv"], ["-bp"], ["-q"]] {
            let result = try sandbox.run(["-C", missing] + arguments, input: Self.input, config: false)
            #expect(result.status == 78, "\(arguments): \(result.summary)")
            #expect(result.stderrLines.count == 1)
            #expect(result.stderr.contains(missing), "\(result.summary)")
        }
    }
}
