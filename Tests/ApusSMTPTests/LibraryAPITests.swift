import ApusSMTP
import ApusTestSupport
import Testing

/// library.md "What a Swift developer expects besides", each through
/// `import ApusSMTP` alone (the types of ApusMessage, ApusTransport and
/// ApusPOSIX come with it).
@Suite struct LibraryAPITests {
    @Test func sessionOpensInOneCallFromAServerString() throws {
        let sink = try SMTPSink()
        defer { sink.stop() }
        let log = SMTPTraceLog()
        let session = try SMTPSession.open(
            server: "127.0.0.1:\(sink.port)", tls: .none, clientName: "client.example", timeout: 10, trace: log.trace)
        #expect(session.greeting?.code == 220)
        #expect(session.clientName == "client.example")
        #expect(session.extensions.pipelining)
        try session.send(SMTPEnvelope(sender: "a@x", recipients: ["b@y"]), message: .string("Subject: s\n\nbody\n"))
        session.quit()
        #expect(try sink.waitForMessages(1)[0].text.contains("body"))
        #expect(log.lines.first?.hasPrefix("S: 220") == true)
        #expect(log.lines.contains("C: EHLO client.example"))
        #expect(log.entries.contains { $0.direction == .sent && $0.text == "QUIT" })
        log.removeAll()
        #expect(log.lines.isEmpty)
    }

    @Test func openingFailuresNameTheConnectStage() throws {
        for server in ["not a host name", "[::1"] {
            let error = #expect(throws: SMTPError.self) { try SMTPSession.open(server: server, timeout: 2) }
            #expect(error?.kind == .invalidArgument && error?.stage == .connect)
        }
        let port = try freeLoopbackPort()
        let error = #expect(throws: SMTPError.self) {
            try SMTPSession.open(server: "127.0.0.1", port: port, timeout: 2)
        }
        #expect(error?.kind == .connection && error?.stage == .connect)
    }

    /// `auth on`'s choice: the strongest mechanism both offer (CRAM-MD5 over
    /// LOGIN and PLAIN here; RFC 2195's example exchange).
    @Test func passwordAuthenticationPicksTheStrongestMechanism() throws {
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: ["AUTH LOGIN PLAIN CRAM-MD5"])
            try peer.answer([
                "AUTH CRAM-MD5": "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
                "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw": "235 2.7.0 ok",
            ])
        }) { stream in
            let session = try greetedSession(stream)
            try session.authenticate(user: "tim", password: "tanstaaftanstaaf")
            #expect(session.isAuthenticated)
        }
        try result.get()
        #expect(peer.finish() == nil)
    }

    @Test func passwordAuthenticationWithoutAUsableMechanismSendsNothing() throws {
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: ["AUTH XOAUTH2"])
        }) { stream in
            let session = try greetedSession(stream)
            try session.authenticate(user: "tim", password: "pw")
        }
        let error = smtpError(result)
        #expect(error?.kind == .missingExtension && error?.stage == .auth)
        #expect(peer.finish() == nil)
        #expect(peer.lines == ["EHLO me"])
    }

    /// The one-call send with user and password: PLAIN to a loopback server.
    @Test func oneCallSendWithUserAndPassword() throws {
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: ["AUTH PLAIN", "PIPELINING"])
            try peer.expect("AUTH PLAIN AHVzZXIAc2VjcmV0")
            try peer.send("235 2.7.0 ok")
            try peer.expect("MAIL FROM:<a@x>")
            try peer.expect("RCPT TO:<b@y>")
            try peer.expect("DATA")
            try peer.send("250 ok", "250 ok", "354 go")
            try peer.expect("Subject: s")
            try peer.expect("")
            try peer.expect("hi")
            try peer.expect(".")
            try peer.expect("QUIT")
            try peer.send("250 2.0.0 queued")
        }) { stream in
            try SMTP.sendMail(
                from: "a@x", to: ["b@y"], headers: .fields([("Subject", "s")]), body: .lines(["hi"]), over: stream,
                user: "user", password: "secret", clientName: "me")
        }
        #expect(try result.get().dataReply.code == 250)
        #expect(peer.finish() == nil)
    }

    @Test func headerBlockFromTextIntoFieldsAndAddresses() throws {
        let text =
            "From: Ann Example <ann@example.org>\r\nTo: bob@example.net,\n  \"c d\"@example.com\nSubject: hi\n\nbody\n"
        let headers = try Headers(parsing: text)
        #expect(headers.map(\.nameString) == ["From", "To", "Subject"])
        #expect(headers.first(named: "subject")?.valueString == "hi")
        let to = try headers.addresses(named: "to")
        #expect(to.map(\.addressString) == ["bob@example.net", "\"c d\"@example.com"])
        #expect(to[1].localPartString == "c d" && to[1].domainString == "example.com")
        let from = try headers.addresses(named: "From")
        #expect(from[0].displayNameString == "Ann Example")
        #expect(from[0].localPartString == "ann" && from[0].domainString == "example.org")
        #expect(try Mailbox(localPart: "root", domain: nil).domainString == nil)
        #expect(throws: MessageError.self) { try Headers(parsing: "To: <broken\n").addresses(named: "to") }
        #expect(try Headers(parsing: "").isEmpty)
    }
}
