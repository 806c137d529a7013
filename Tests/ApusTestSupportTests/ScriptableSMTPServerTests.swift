import ApusTestSupport
import ApusTransport
import Foundation
import Testing

@Suite struct ScriptableSMTPServerTests {
    func connect(_ server: ScriptableSMTPServer, timeout: Double = 2) throws -> TCPStream {
        try TCPStream.connect(to: server.address, timeout: timeout)
    }

    func send(_ stream: TCPStream, _ text: String) throws {
        try stream.write(Array(text.utf8))
    }

    /// Connects, reads the greeting and says EHLO; returns the stream and the EHLO reply.
    func connectWithEHLO(_ server: ScriptableSMTPServer) throws -> (TCPStream, [String]) {
        let stream = try connect(server)
        _ = try readReply(stream)
        try send(stream, "EHLO c\r\n")
        return (stream, try readReply(stream))
    }

    @Test func defaultSessionIsRecorded() throws {
        let server = try ScriptableSMTPServer()
        defer { server.stop() }
        let stream = try connect(server)
        defer { stream.close() }
        #expect(try readReply(stream) == ["220 mx.test.example ESMTP apus test server"])
        try send(stream, "EHLO client.test\r\n")
        let ehlo = try readReply(stream)
        #expect(ehlo.first == "250-mx.test.example")
        #expect(ehlo.contains("250-PIPELINING"))
        #expect(ehlo.last == "250 DSN")
        // One write: MAIL, two RCPTs and DATA pipelined.
        try send(
            stream,
            "MAIL FROM:<a@test.example> SIZE=20\r\nRCPT TO:<b@test.example>\r\n"
                + "RCPT TO:<c@test.example> NOTIFY=NEVER\r\nDATA\r\n")
        #expect(try readReply(stream) == ["250 2.1.0 Ok"])
        #expect(try readReply(stream) == ["250 2.1.5 Ok"])
        #expect(try readReply(stream) == ["250 2.1.5 Ok"])
        #expect(try readReply(stream).first?.hasPrefix("354 ") == true)
        try send(stream, "Subject: hi\r\n\r\n..leading dot\r\n.\r\n")
        #expect(try readReply(stream).first?.hasPrefix("250 2.0.0 Ok: queued as") == true)
        try send(stream, "QUIT\r\n")
        #expect(try readReply(stream) == ["221 2.0.0 Bye"])
        #expect(server.waitForClosedConnections(1))

        let record = try #require(server.connections.first)
        #expect(record.verbs == ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"])
        #expect(record.verbBatches == [["EHLO"], ["MAIL", "RCPT", "RCPT", "DATA"], ["QUIT"]])
        let message = try #require(server.messages.first)
        #expect(message.sender == "a@test.example")
        #expect(message.mailFrom == "<a@test.example> SIZE=20")
        #expect(message.recipientAddresses == ["b@test.example", "c@test.example"])
        #expect(message.text == "Subject: hi\r\n\r\n.leading dot\r\n")
        #expect(!message.viaBDAT)
        #expect(message.accepted)
        #expect(String(decoding: record.received, as: UTF8.self).hasPrefix("EHLO client.test\r\nMAIL"))
    }

    @Test func scriptedFailuresPerOccurrence() throws {
        var configuration = ScriptableSMTPServer.Configuration()
        configuration.on("RCPT", "250 2.1.5 fine")
        configuration.on("RCPT", occurrence: 2, "550 5.1.1 <x@test.example>: no such user")
        configuration.on(".", "451 4.3.0 try later")
        configuration.on("CONNECT", connection: 2, .replyThenDisconnect("421 4.3.2 busy"))
        configuration.extensions = ["PIPELINING"]
        let server = try ScriptableSMTPServer(configuration)
        defer { server.stop() }

        let (stream, ehlo) = try connectWithEHLO(server)
        defer { stream.close() }
        #expect(ehlo == ["250-mx.test.example", "250 PIPELINING"])
        try send(stream, "MAIL FROM:<>\r\nRCPT TO:<a@t>\r\nRCPT TO:<x@t>\r\nRCPT TO:<c@t>\r\nDATA\r\n")
        #expect(try readReply(stream) == ["250 2.1.0 Ok"])
        #expect(try readReply(stream) == ["250 2.1.5 fine"])
        #expect(try readReply(stream) == ["550 5.1.1 <x@test.example>: no such user"])
        #expect(try readReply(stream) == ["250 2.1.5 fine"])
        #expect(try readReply(stream).first?.hasPrefix("354") == true)
        try send(stream, "x\r\n.\r\n")
        #expect(try readReply(stream) == ["451 4.3.0 try later"])
        let message = try #require(server.messages.first)
        #expect(message.recipients == ["<a@t>", "<c@t>"])
        #expect(!message.accepted)

        let second = try connect(server)
        defer { second.close() }
        #expect(try readReply(second) == ["421 4.3.2 busy"])
        #expect(try readLine(second) == nil)
    }

    @Test func bdatChunksAreJoined() throws {
        let server = try ScriptableSMTPServer()
        defer { server.stop() }
        let (stream, _) = try connectWithEHLO(server)
        defer { stream.close() }
        try send(stream, "MAIL FROM:<a@t>\r\nRCPT TO:<b@t>\r\nBDAT 5\r\nHello")
        #expect(try readReply(stream) == ["250 2.1.0 Ok"])
        #expect(try readReply(stream) == ["250 2.1.5 Ok"])
        #expect(try readReply(stream) == ["250 2.0.0 5 octets received"])
        try send(stream, "BDAT 8 LAST\r\n, world\n")
        #expect(try readReply(stream).first?.hasPrefix("250 2.0.0 Ok: queued") == true)
        let message = try #require(server.waitForMessages(1).first)
        #expect(message.text == "Hello, world\n")
        #expect(message.viaBDAT)
        #expect(message.chunkSizes == [5, 8])
        #expect(server.connections.first?.verbBatches == [["EHLO"], ["MAIL", "RCPT", "BDAT"], ["BDAT"]])
    }

    @Test func faultsGarbageOverlongDelayAndHang() throws {
        var configuration = ScriptableSMTPServer.Configuration()
        configuration.on("NOOP", occurrence: 1, .garbage)
        configuration.on("NOOP", occurrence: 2, .overlongLine(length: 5000))
        configuration.on("NOOP", occurrence: 3, .delayed(0.2, "250 2.0.0 late"))
        configuration.on("NOOP", occurrence: 4, .manyLines(count: 150))
        configuration.on("RSET", .hang)
        configuration.on("VRFY", .disconnect)
        configuration.on("CONNECT", .reply("220-first\n220 second"))
        let server = try ScriptableSMTPServer(configuration)
        defer { server.stop() }
        let stream = try connect(server, timeout: 0.3)
        defer { stream.close() }
        #expect(try readReply(stream) == ["220-first", "220 second"])
        try send(stream, "NOOP\r\n")
        #expect(try readLine(stream)?.hasSuffix("garbage here") == true)
        try send(stream, "NOOP\r\n")
        #expect(try readLine(stream)?.count == 5004)
        let start = Date()
        try send(stream, "NOOP\r\n")
        stream.timeout = 2
        #expect(try readReply(stream) == ["250 2.0.0 late"])
        #expect(Date().timeIntervalSince(start) >= 0.19)
        try send(stream, "NOOP\r\n")
        #expect(try readReply(stream).count == 150)
        stream.timeout = 0.3
        try send(stream, "RSET\r\n")
        #expect(throws: TransportError.self) { _ = try readReply(stream) }

        let other = try connect(server)
        defer { other.close() }
        _ = try readReply(other)
        try send(other, "VRFY x\r\n")
        #expect(try readLine(other) == nil)
        // stop() must end the hung session promptly.
        let stopStart = Date()
        server.stop()
        #expect(Date().timeIntervalSince(stopStart) < 2)
        #expect(server.connections.allSatisfy { $0.isClosed })
    }

    @Test func startTLSHookAndAuthHandler() throws {
        var configuration = ScriptableSMTPServer.Configuration()
        configuration.extensions = ["STARTTLS", "AUTH PLAIN LOGIN"]
        // A stand-in "TLS" that just passes the stream through: enough to see the hook called.
        configuration.startTLS = { stream in stream }
        configuration.authenticate = AuthExchange.accepting(user: "alice", password: "secret")
        let server = try ScriptableSMTPServer(configuration)
        defer { server.stop() }
        let (stream, ehlo) = try connectWithEHLO(server)
        defer { stream.close() }
        #expect(ehlo == ["250-mx.test.example", "250-STARTTLS", "250 AUTH PLAIN LOGIN"])
        try send(stream, "STARTTLS\r\n")
        #expect(try readReply(stream) == ["220 2.0.0 Ready to start TLS"])
        try send(stream, "EHLO c\r\n")
        #expect(try readReply(stream) == ["250-mx.test.example", "250 AUTH PLAIN LOGIN"])
        try send(stream, "AUTH PLAIN \(Data("\0alice\0wrong".utf8).base64EncodedString())\r\n")
        #expect(try readReply(stream) == ["535 5.7.8 Error: authentication failed"])
        try send(stream, "AUTH LOGIN\r\n")
        #expect(try readReply(stream) == ["334 VXNlcm5hbWU6"])
        try send(stream, Data("alice".utf8).base64EncodedString() + "\r\n")
        #expect(try readReply(stream) == ["334 UGFzc3dvcmQ6"])
        try send(stream, Data("secret".utf8).base64EncodedString() + "\r\n")
        #expect(try readReply(stream) == ["235 2.7.0 Authentication successful"])
        let record = try #require(server.connections.first)
        #expect(record.usedTLS)
        #expect(record.commands.map(\.overTLS) == [false, false, true, true, true])
        #expect(record.authLines.count == 2)
    }

    @Test func startTLSWithoutHookIsRefused() throws {
        let server = try ScriptableSMTPServer()
        defer { server.stop() }
        let stream = try connect(server)
        defer { stream.close() }
        _ = try readReply(stream)
        try send(stream, "STARTTLS\r\nAUTH PLAIN x\r\nFOO\r\n")
        #expect(try readReply(stream) == ["454 4.7.0 TLS not available"])
        #expect(try readReply(stream) == ["502 5.5.1 AUTH not available"])
        #expect(try readReply(stream) == ["500 5.5.2 Error: command not recognized"])
    }

    @Test func concurrentConnections() throws {
        let server = try ScriptableSMTPServer()
        defer { server.stop() }
        let a = try connect(server)
        let b = try connect(server)
        defer {
            a.close()
            b.close()
        }
        _ = try readReply(a)
        _ = try readReply(b)
        try send(b, "HELO b\r\n")
        try send(a, "HELO a\r\n")
        #expect(try readReply(a) == ["250 mx.test.example"])
        #expect(try readReply(b) == ["250 mx.test.example"])
        #expect(server.connections.count == 2)
    }
}
