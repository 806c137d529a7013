import ApusMessage
import ApusTransport
import Foundation
import Testing

@testable import ApusSMTP

/// The library's in-memory trace sink (the tests' own collector before it existed).
typealias TraceLog = SMTPTraceLog

struct FakeMechanism: SASLClient {
    var mechanism = "PLAIN"
    var sendsSecretInClear = true
    var initial: [UInt8]? = Array("\0user\0secret".utf8)
    var answers: [[UInt8]] = []
    var seenChallenges: [[UInt8]] = []
    mutating func initialResponse() throws -> [UInt8]? { initial }
    mutating func respond(to challenge: [UInt8]) throws -> [UInt8] {
        seenChallenges.append(challenge)
        if answers.isEmpty { throw SASLError("no more answers") }
        return answers.removeFirst()
    }
}

/// A stream wrapper standing in for TLS: forwards everything, reports a session.
final class FakeTLSStream: ByteStream {
    let inner: any ByteStream
    init(_ inner: any ByteStream) { self.inner = inner }
    var timeout: Double {
        get { inner.timeout }
        set { inner.timeout = newValue }
    }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try inner.read(into: buffer) }
    func write(_ buffer: UnsafeRawBufferPointer) throws { try inner.write(buffer) }
    var tlsSession: TLSSessionInfo? {
        TLSSessionInfo(
            protocolVersion: "TLSv1.3", cipher: "FAKE", peerSubject: "", peerNames: [], peerFingerprint: [],
            verified: true)
    }
    var peerDescription: String { inner.peerDescription }
    var isLoopback: Bool { inner.isLoopback }
    func close() { inner.close() }
}

func smtpError(_ result: Result<some Any, any Error>) -> SMTPError? {
    if case .failure(let error) = result { return error as? SMTPError }
    return nil
}

struct SMTPSessionTests {
    @Test func greetingEhloAndExtensions() throws {
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: ["PIPELINING", "SIZE 1000", "AUTH PLAIN"])
            try peer.answer(["QUIT": "221 bye"])
        }) { stream in
            let session = try SMTPSession.connect(stream: stream)
            let lines = try session.ehlo("client.example")
            #expect(lines.count == 4)
            #expect(session.extensions.pipelining)
            #expect(session.extensions.sizeLimit == 1000)
            #expect(session.greeting?.code == 220)
            session.quit()
            #expect(session.isClosed)
        }
        try result.get()
        #expect(peer.finish() == nil)
        #expect(peer.lines == ["EHLO client.example", "QUIT"])
    }

    @Test func heloFallbackOn5xx() throws {
        let (result, peer) = withPeer({ peer in
            try peer.send("220 old server")
            try peer.answer(["EHLO": "502 what", "HELO me": "250 old.example"])
        }) { stream in
            let session = try SMTPSession.connect(stream: stream)
            let lines = try session.ehlo("me")
            #expect(lines == ["old.example"])
            #expect(session.extensions == Extensions())
        }
        try result.get()
        #expect(peer.finish() == nil)
    }

    @Test func ehlo4xxIsTransientError() {
        let (result, _) = withPeer({ peer in
            try peer.send("220 x")
            try peer.answer(["EHLO": "421 4.3.2 shutting down"])
        }) { stream in
            try SMTPSession.connect(stream: stream).ehlo("me")
        }
        let error = smtpError(result)
        #expect(error?.kind == .transientReply)
        #expect(error?.isTransient == true)
        #expect(error?.reply?.enhancedCode?.description == "4.3.2")
        #expect(error?.command == "EHLO me")
        #expect(error?.stage == .ehlo)
    }

    @Test func badGreeting() {
        let (result, _) = withPeer({ peer in try peer.send("554 5.3.2 no service") }) { stream in
            try SMTPSession.connect(stream: stream)
        }
        #expect(smtpError(result)?.kind == .permanentReply)
        #expect(smtpError(result)?.isTransient == false)
        #expect(smtpError(result)?.stage == .greeting)
    }

    @Test func silentServerTimesOut() {
        let start = Date()
        let (result, _) = withPeer(timeout: 0.3, { peer in _ = peer.drainUntilClosed() }) { stream in
            try SMTPSession.connect(stream: stream)
        }
        #expect(smtpError(result)?.kind == .timeout)
        #expect(smtpError(result)?.isTransient == true)
        #expect(Date().timeIntervalSince(start) < 3)
    }

    @Test func garbageIsProtocolError() {
        let (result, _) = withPeer({ peer in try peer.sendRaw("HTTP/1.1 400 Bad Request\r\n") }) { stream in
            try SMTPSession.connect(stream: stream)
        }
        #expect(smtpError(result)?.kind == .protocolViolation)
    }

    @Test func closedConnectionIsConnectionError() {
        let (result, _) = withPeer({ peer in peer.stream.close() }) { stream in
            try SMTPSession.connect(stream: stream)
        }
        #expect(smtpError(result)?.kind == .connection)
    }

    @Test func singleCommands() throws {
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: [])
            try peer.answer(["VRFY joe": "252 2.5.2 cannot verify"])
            try peer.expect("EXPN staff")
            try peer.send("250-Joe <joe@x>", "250 Ann <ann@x>")
            try peer.answer(["EXPN secret": "252 not expandable"])
            try peer.expect("HELP DATA")
            try peer.send("214-DATA sends", "214 the message")
            try peer.answer([
                "HELP": "214 commands: ...", "NOOP": "250 ok", "SEND FROM:<a@x>": "250 ok", "SOML FROM:<a@x>": "250 ok",
                "SAML FROM:<a@x>": "250 ok", "RSET": "250 ok", "TURN": "502 5.5.1 no",
            ])
        }) { stream in
            let s = try greetedSession(stream)
            #expect(try s.verify("joe").code == 252)
            #expect(try s.expand("staff") == ["Joe <joe@x>", "Ann <ann@x>"])
            #expect(try s.expand("secret") == nil)
            #expect(try s.help("DATA") == ["DATA sends", "the message"])
            #expect(try s.help() == ["commands: ..."])
            try s.noop()
            try s.sendToTerminal(from: "a@x")
            try s.sendOrMail(from: "a@x")
            try s.sendAndMail(from: "a@x")
            try s.reset()
            #expect(throws: SMTPError.self) { try s.turn() }
        }
        try result.get()
        #expect(peer.finish() == nil)
    }

    @Test func injectionInArgumentsIsRefusedBeforeSending() throws {
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: [])
            _ = peer.drainUntilClosed()
        }) { stream in
            let s = try greetedSession(stream)
            #expect(throws: SMTPError.self) { try s.mail(from: "a@x>\r\nRCPT TO:<evil@x") }
            #expect(throws: SMTPError.self) { try s.recipient("b@x\nDATA") }
            #expect(throws: SMTPError.self) { try s.verify("x\r\nQUIT") }
        }
        try result.get()
        #expect(peer.lines == ["EHLO me"])
    }

    @Test func rcptFollows551Once() throws {
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: [])
            try peer.answer([
                "MAIL FROM:<a@x>": "250 ok", "RCPT TO:<old@x>": "551 5.1.6 User not local; please try <new@y>",
                "RCPT TO:<new@y>": "250 ok",
            ])
        }) { stream -> RecipientOutcome in
            let s = try greetedSession(stream)
            try s.mail(from: "a@x")
            return try s.recipient("old@x")
        }
        let outcome = try result.get()
        #expect(outcome.forwardedTo == "new@y")
        #expect(outcome.reply.code == 551)
        #expect(outcome.isAccepted)
        #expect(peer.finish() == nil)
    }

    @Test func startTLSSwapsStreamAndSaysEhloAgain() throws {
        let log = TraceLog()
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: ["STARTTLS", "AUTH LOGIN"])
            try peer.answer(["STARTTLS": "220 go ahead"])
            try peer.expect("EHLO me")
            try peer.send("250-x", "250 AUTH PLAIN")
        }) { stream in
            let s = try greetedSession(stream, trace: log.trace)
            #expect(!s.isEncrypted)
            try s.startTLS { FakeTLSStream($0) }
            #expect(s.isEncrypted)
            #expect(s.extensions.authMechanisms == ["PLAIN"])
        }
        try result.get()
        #expect(peer.finish() == nil)
        #expect(log.lines.contains("*: TLS started: TLSv1.3 FAKE"))
    }

    @Test func startTLSRefusesTrailingData() throws {
        let (result, _) = withPeer({ peer in
            try greet(peer, extensions: ["STARTTLS"])
            try peer.expect("STARTTLS")
            try peer.sendRaw("220 go ahead\r\n250 injected\r\n")
            _ = peer.drainUntilClosed()
        }) { stream in
            let s = try greetedSession(stream)
            var wrapped = false
            defer { #expect(!wrapped) }
            try s.startTLS {
                wrapped = true
                return FakeTLSStream($0)
            }
        }
        #expect(smtpError(result)?.kind == .protocolViolation)
    }

    @Test func startTLSFailsClosedWithoutExtension() throws {
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: ["PIPELINING"])
            _ = peer.drainUntilClosed()
        }) { stream in
            let s = try greetedSession(stream)
            try s.startTLS(configuration: TLSConfiguration(serverName: "x"))
        }
        #expect(smtpError(result)?.kind == .missingExtension)
        #expect(peer.lines == ["EHLO me"])
    }

    @Test func authWithInitialResponseIsRedacted() throws {
        let log = TraceLog()
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: ["AUTH PLAIN LOGIN"])
            try peer.answer(["AUTH PLAIN AHVzZXIAc2VjcmV0": "235 2.7.0 ok"])
        }) { stream in
            let s = try greetedSession(stream, trace: log.trace)
            try s.authenticate(FakeMechanism())
            #expect(s.isAuthenticated)
        }
        try result.get()
        #expect(peer.finish() == nil)
        #expect(log.lines.contains("C: AUTH PLAIN <redacted>"))
        #expect(!log.lines.joined().contains("AHVzZXIAc2VjcmV0"))
    }

    @Test func authChallengeLoopAndEmptyInitialResponse() throws {
        let log = TraceLog()
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: ["AUTH LOGIN"])
            try peer.answer(["AUTH LOGIN =": "334 VXNlcm5hbWU6"])
            try peer.expect(Base64.encodeString(Array("user".utf8)))
            try peer.send("334 UGFzc3dvcmQ6")
            try peer.expect(Base64.encodeString(Array("pw".utf8)))
            try peer.send("535 5.7.8 bad credentials")
        }) { stream in
            let s = try greetedSession(stream, trace: log.trace)
            var m = FakeMechanism()
            m.mechanism = "LOGIN"
            m.initial = []
            m.answers = [Array("user".utf8), Array("pw".utf8)]
            try s.authenticate(m)
        }
        #expect(smtpError(result)?.kind == .authenticationFailed)
        #expect(smtpError(result)?.reply?.code == 535)
        #expect(peer.finish() == nil)
        #expect(log.lines.filter { $0 == "C: <redacted>" }.count == 2)
        #expect(log.lines.contains("S: 334 VXNlcm5hbWU6"))
    }

    @Test(arguments: [
        (534, SMTPError.Kind.mechanismTooWeak), (454, .authenticationTemporary), (421, .authenticationTemporary),
        (504, .authenticationFailed),
    ])
    func authFailureKinds(code: Int, kind: SMTPError.Kind) {
        let (result, _) = withPeer({ peer in
            try greet(peer, extensions: ["AUTH PLAIN"])
            try peer.answer(["AUTH PLAIN": "\(code) no"])
        }) { stream in
            let s = try greetedSession(stream)
            try s.authenticate(FakeMechanism())
        }
        #expect(smtpError(result)?.kind == kind)
    }

    @Test func clearTextSecretRefusedOffLoopback() {
        let (result, peer) = withPeer(
            isLoopback: false,
            { peer in
                try greet(peer, extensions: ["AUTH PLAIN"])
                _ = peer.drainUntilClosed()
            }
        ) { stream in
            let s = try greetedSession(stream)
            try s.authenticate(FakeMechanism())
        }
        #expect(smtpError(result)?.kind == .authenticationRefused)
        #expect(peer.lines == ["EHLO me"])
    }

    @Test func mechanismNotOfferedIsMissingExtension() {
        let (result, _) = withPeer({ peer in
            try greet(peer, extensions: ["AUTH LOGIN"])
            _ = peer.drainUntilClosed()
        }) { stream in
            let s = try greetedSession(stream)
            try s.authenticate(FakeMechanism())
        }
        #expect(smtpError(result)?.kind == .missingExtension)
    }

    @Test func transactionListsStopAtFirstFailure() throws {
        let (result, peer) = withPeer({ peer in
            try peer.send("220 x")
            try peer.answer([
                "HELO me": "250 x", "MAIL FROM:<a@x>": "250 ok", "RCPT TO:<b@x>": "550 no such user", "RSET": "250 ok",
            ])
        }) { stream -> (SMTPReply, Bool) in
            let s = try SMTPSession.connect(stream: stream)
            let reply = try s.runTransactionsKeepingOpen([
                .helo("me"), .mail("a@x"), .rcpt("b@x"), .data(.string("never sent\n")),
            ])
            let open = !s.isClosed
            try s.reset()
            return (reply, open)
        }
        let (reply, open) = try result.get()
        #expect(reply.code == 550)
        #expect(open)
        #expect(peer.finish() == nil)
        #expect(!peer.lines.contains("DATA"))
    }

    @Test func transactionListWithDataClosesAfter() throws {
        let (result, peer) = withPeer({ peer in
            try peer.send("220 x")
            try peer.answer([
                "HELO me": "250 x", "MAIL FROM:<a@x>": "250 ok", "RCPT TO:<b@x>": "250 ok", "DATA": "354 go",
            ])
            peer.saved.append(try peer.readData())
            try peer.send("250 queued")
        }) { stream -> (SMTPReply, Bool) in
            let s = try SMTPSession.connect(stream: stream)
            let reply = try s.runTransactions([.helo("me"), .mail("a@x"), .rcpt("b@x"), .data(.lines([".hi", "x"]))])
            return (reply, s.isClosed)
        }
        let (reply, closed) = try result.get()
        #expect(reply.code == 250 && closed)
        #expect(peer.finish() == nil)
        #expect(peer.saved.first == Array("..hi\r\nx\r\n".utf8))
    }
}
