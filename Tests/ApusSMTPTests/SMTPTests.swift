import ApusTestSupport
import ApusTransport
import Foundation
import Testing

@testable import ApusSMTP

/// The one-call API against real servers over TCP: Postfix's smtp-sink and the
/// scriptable test server.
@Suite(.serialized)
struct SMTPTests {
    @Test func headersAreJoinedToTheBody() throws {
        let reader = SMTP.message(headers: .fields([("Subject", "hi"), ("To", "b@x")]), body: .lines(["body"]))
            .makeReader()
        #expect(try reader.nextWireChunk(maximum: 1000).bytes == Array("Subject: hi\r\nTo: b@x\r\n\r\nbody\r\n".utf8))
        let raw = SMTP.message(headers: .raw("Subject: hi\r\n"), body: .string("x")).makeReader()
        #expect(try raw.nextWireChunk(maximum: 1000).bytes == Array("Subject: hi\r\n\r\nx\r\n".utf8))
    }

    @Test func badServerNameIsInvalidArgument() {
        #expect(throws: SMTPError.self) {
            try SMTP.sendMail(from: "a@x", to: ["b@x"], headers: .none, body: .string("x"), server: "[::1")
        }
    }

    @Test func sendsThroughSMTPSink() throws {
        let sink = try SMTPSink()
        defer { sink.stop() }
        let log = TraceLog()
        let result = try SMTP.sendMail(
            from: "me@example.org", to: ["you@example.net", "them@example.net"],
            headers: .fields([("Subject", "Sink test")]), body: .lines(["Hello,", ".dot line", "bye"]),
            server: "\(sink.host):\(sink.port)", clientName: "client.test", timeout: 5, trace: log.trace)
        #expect(result.accepted.count == 2)
        let messages = try sink.waitForMessages(1)
        #expect(messages.count == 1)
        #expect(messages.first?.mailArguments.contains("<me@example.org>") == true)
        #expect(messages.first?.recipientArguments == ["<you@example.net>", "<them@example.net>"])
        #expect(messages.first?.text.contains("Subject: Sink test\n\nHello,\n.dot line\nbye") == true)
        #expect(log.lines.contains("C: EHLO client.test"))
    }

    @Test func pipelinedFlightsAgainstScriptableServer() throws {
        var configuration = ScriptableSMTPServer.Configuration()
        configuration.extensions = ["PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES"]
        configuration.on("RCPT", occurrence: 2, "550 5.1.1 No such user")
        let server = try ScriptableSMTPServer(configuration)
        defer { server.stop() }
        let result = try SMTP.sendMail(
            from: "a@x.test", to: ["b@x.test", "c@x.test", "d@x.test"], headers: .none,
            body: .string("Subject: s\n\nbody\n"), server: "\(server.host):\(server.port)", timeout: 5)
        #expect(result.refused.map(\.recipient) == ["c@x.test"])
        #expect(server.waitForClosedConnections(1))
        let verbs = server.connections.first?.verbBatches ?? []
        #expect(verbs.contains(["MAIL", "RCPT", "RCPT", "RCPT", "DATA"]))
        #expect(server.messages.first?.recipientAddresses == ["b@x.test", "d@x.test"])
    }

    @Test func chunkingOneFlightAgainstScriptableServer() throws {
        let server = try ScriptableSMTPServer()
        defer { server.stop() }
        try SMTP.sendMail(
            from: "a@x.test", to: ["b@x.test"], headers: .fields([("Subject", "c")]), body: .string("x\n"),
            server: "\(server.host):\(server.port)", timeout: 5)
        #expect(server.waitForClosedConnections(1))
        let message = server.messages.first
        #expect(message?.viaBDAT == true)
        #expect(message?.chunkSizes.count == 1)
        #expect(message?.text == "Subject: c\r\n\r\nx\r\n")
        #expect(server.connections.first?.verbBatches.contains(["MAIL", "RCPT", "BDAT", "QUIT"]) == true)
    }

    /// Issue 3's "done when": three recipients to a CHUNKING server go in one
    /// flight (MAIL, 3 × RCPT, BDAT LAST with the message, QUIT in one write).
    @Test func threeRecipientsToAChunkingServerInOneFlight() throws {
        let server = try ScriptableSMTPServer()
        defer { server.stop() }
        let result = try SMTP.sendMail(
            from: "a@x.test", to: ["b@x.test", "c@x.test", "d@x.test"], headers: .fields([("Subject", "three")]),
            body: .string("one flight\n"), server: "\(server.host):\(server.port)", timeout: 5)
        #expect(result.accepted.count == 3)
        #expect(server.waitForClosedConnections(1))
        let batches = server.connections.first?.verbBatches ?? []
        #expect(batches.contains(["MAIL", "RCPT", "RCPT", "RCPT", "BDAT", "QUIT"]), "\(batches)")
        #expect(server.messages.first?.viaBDAT == true)
        #expect(server.messages.first?.chunkSizes.count == 1)
        #expect(server.messages.first?.recipientAddresses == ["b@x.test", "c@x.test", "d@x.test"])
    }

    /// CHUNKING and PIPELINING, several recipients: a 551 arrives after the
    /// flight; the forward path gets the message in a second transaction.
    @Test func forwardPathFollowedAfterAChunkingFlight() throws {
        var configuration = ScriptableSMTPServer.Configuration()
        configuration.on("RCPT", occurrence: 2, connection: 1, "551 5.1.6 User not local; please try <new@y.test>")
        let server = try ScriptableSMTPServer(configuration)
        defer { server.stop() }
        let tcp = try TCPStream.connect(host: server.host, port: server.port, timeout: 5)
        let session = try SMTPSession.connect(stream: tcp)
        try session.ehlo("me")
        let sent = try session.send(
            SMTPEnvelope(sender: "a@x.test", recipients: ["b@x.test", "old@x.test"]),
            message: .string("Subject: c\n\nforwarded\n"))
        session.quit()
        #expect(sent.accepted.map(\.recipient) == ["b@x.test", "old@x.test"])
        #expect(sent.recipients.last?.forwardedTo == "new@y.test")
        #expect(server.waitForClosedConnections(1))
        let messages = server.messages
        #expect(messages.map(\.recipientAddresses) == [["b@x.test"], ["new@y.test"]])
        #expect(messages.count == 2 && messages[0].data == messages[1].data)
        #expect(server.connections.count == 1)
    }

    @Test func hangingServerTimesOut() throws {
        var configuration = ScriptableSMTPServer.Configuration()
        configuration.on("MAIL", .hang)
        let server = try ScriptableSMTPServer(configuration)
        defer { server.stop() }
        let start = Date()
        do {
            try SMTP.sendMail(
                from: "a@x.test", to: ["b@x.test"], headers: .none, body: .string("x\n"),
                server: "\(server.host):\(server.port)", timeout: 0.5)
            Issue.record("no error")
        } catch let error as SMTPError {
            #expect(error.kind == .timeout)
            #expect(error.isTransient)
        }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func connectionRefusedIsConnectionError() throws {
        let port = try freeLoopbackPort()
        #expect {
            try SMTP.sendMail(
                from: "a@x", to: ["b@x"], headers: .none, body: .string("x"), server: "127.0.0.1:\(port)", timeout: 2)
        } throws: { ($0 as? SMTPError)?.kind == .connection }
    }
}
