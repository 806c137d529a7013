import ApusMessage
import ApusSMTP
import ApusTestSupport
import ApusTransport
import Foundation
import Testing

/// Collects a session's trace lines.
final class TraceRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [(SMTPTrace.Direction, String)] = []

    var trace: SMTPTrace {
        SMTPTrace { [self] direction, line in lock.withLock { recorded.append((direction, line)) } }
    }

    /// The client's lines, in order.
    var sent: [String] { lock.withLock { recorded.filter { $0.0 == .sent }.map(\.1) } }
    /// Every line, for failure messages.
    var all: String { lock.withLock { recorded.map { "\($0.0): \($0.1)" }.joined(separator: "\n") } }
}

/// The client TLS configuration that trusts the Postfix instance's CA.
func postfixTLS(_ postfix: PostfixServer, serverName: String = "localhost") -> TLSConfiguration {
    var configuration = TLSConfiguration(serverName: serverName)
    configuration.trustFile = postfix.certificates.caFile
    return configuration
}

@Suite("TLS and AUTH against a private Postfix", .serialized)
struct TLSAuthPostfixTests {
    /// STARTTLS, then AUTH with the mechanism `auth` chooses, then a message.
    private func sendWithSTARTTLS(
        _ postfix: PostfixServer, auth: String, password: String? = nil, trace: TraceRecorder
    ) throws -> SMTPSendResult {
        let user = postfix.users[0]
        let tcp = try TCPStream.connect(host: postfix.host, port: postfix.submissionPort, timeout: 20)
        let session = try SMTPSession.connect(stream: tcp, trace: trace.trace)
        defer { session.close() }
        try session.ehlo("client.example")
        try session.startTLS(configuration: postfixTLS(postfix))
        let client = try SASLMechanism.client(
            for: auth, offered: session.extensions.authMechanisms, user: user.name, secret: password ?? user.password)
        try session.authenticate(client)
        let result = try session.send(
            SMTPEnvelope(sender: "sender@example.org", recipients: ["bob@example.com"]),
            message: .string("Subject: STARTTLS \(auth)\n\nover STARTTLS with \(auth)\n"))
        session.quit()
        return result
    }

    @Test(arguments: ["on", "plain", "login", "cram-md5"])
    func authenticatedSTARTTLSSendArrives(auth: String) throws {
        let postfix = try PostfixServer.start()
        defer { postfix.stop() }
        let trace = TraceRecorder()
        let result = try sendWithSTARTTLS(postfix, auth: auth, trace: trace)
        #expect(result.accepted.count == 1)
        let message = try #require(try postfix.waitForMessages(count: 1).first)
        #expect(message.header("Subject", contains: "STARTTLS \(auth)"))
        #expect(message.header("Received", contains: "using TLS"), "\(message.text)")
        #expect(message.header("Received", contains: "Authenticated sender: alice"), "\(message.text)")
        // "on" picks the strongest Cyrus offers here.
        if auth == "on" { #expect(trace.sent.contains { $0.hasPrefix("AUTH CRAM-MD5") }) }
        // The password never reaches the trace.
        #expect(!trace.all.contains(postfix.users[0].password))
        #expect(!trace.all.contains(Base64Probe.plain(postfix.users[0])))
    }

    @Test func implicitTLSSendArrives() throws {
        let postfix = try PostfixServer.start()
        defer { postfix.stop() }
        let user = postfix.users[0]
        let result = try SMTP.sendMail(
            from: "sender@example.org", to: ["carol@example.net"],
            headers: .fields([("Subject", "implicit TLS")]), body: .string("over TLS from the first byte\n"),
            server: "127.0.0.1", port: postfix.implicitTLSPort,
            tls: .implicit(postfixTLS(postfix, serverName: "127.0.0.1")),
            authentication: try SASLMechanism.plain.client(user: user.name, secret: user.password),
            clientName: "client.example", timeout: 20)
        #expect(result.accepted.count == 1)
        let message = try #require(try postfix.waitForMessages(count: 1).first)
        #expect(message.header("Subject", contains: "implicit TLS"))
        #expect(message.header("Received", contains: "using TLS"))
        #expect(message.header("Received", contains: "Authenticated sender: alice"))
        #expect(message.header("Delivered-To", contains: "carol@example.net"))
    }

    @Test func wrongPasswordIsAClearErrorAndNothingIsSentAfter() throws {
        let postfix = try PostfixServer.start()
        defer { postfix.stop() }
        let trace = TraceRecorder()
        let wrong = "not the password 7"
        #expect {
            try sendWithSTARTTLS(postfix, auth: "plain", password: wrong, trace: trace)
        } throws: { error in
            guard let error = error as? SMTPError else { return false }
            let text = "\(error)"
            return error.kind == .authenticationFailed && error.reply?.code == 535 && !text.contains(wrong)
                && !error.isTransient
        }
        let afterAuth = trace.sent.drop { !$0.hasPrefix("AUTH") }.dropFirst()
        #expect(
            !afterAuth.contains { $0.hasPrefix("MAIL") || $0.hasPrefix("RCPT") || $0.hasPrefix("DATA") }, "\(trace.all)"
        )
        #expect(!trace.all.contains(wrong))
        // Postfix's own account of the session, once it is over: one failed AUTH, no MAIL, no DATA.
        let session = try postfix.waitForLogLine { $0.contains("disconnect from") && $0.contains("ehlo=") }
        #expect(session.contains("auth=0/1") && !session.contains("mail=") && !session.contains("data="), "\(session)")
        #expect(try postfix.deliveredMessages().isEmpty)
    }

    @Test func requiredSTARTTLSMissingFailsClosed() throws {
        var options = PostfixServer.Options()
        options.offerSTARTTLS = false
        let postfix = try PostfixServer.start(options)
        defer { postfix.stop() }
        let trace = TraceRecorder()
        let user = postfix.users[0]
        #expect {
            try SMTP.sendMail(
                from: "sender@example.org", to: ["bob@example.com"], headers: .fields([("Subject", "never")]),
                body: .string("must not be sent\n"), server: "127.0.0.1", port: postfix.submissionPort,
                tls: .startTLS(postfixTLS(postfix)),
                authentication: try SASLMechanism.plain.client(user: user.name, secret: user.password),
                clientName: "client.example", timeout: 20, trace: trace.trace)
        } throws: { error in
            (error as? SMTPError)?.kind == .missingExtension
        }
        #expect(trace.sent.allSatisfy { $0.hasPrefix("EHLO") || $0 == "QUIT" }, "\(trace.all)")
        // Postfix's own account of the session, once it is over: no STARTTLS, AUTH, MAIL or DATA.
        let session = try postfix.waitForLogLine { $0.contains("disconnect from") && $0.contains("ehlo=") }
        #expect(["starttls=", "auth=", "mail=", "data="].allSatisfy { !session.contains($0) }, "\(session)")
        #expect(try postfix.deliveredMessages().isEmpty)
    }

    @Test func untrustedPostfixCertificateFailsTheSTARTTLSHandshake() throws {
        let postfix = try PostfixServer.start()
        defer { postfix.stop() }
        let trace = TraceRecorder()
        #expect {
            try SMTP.sendMail(
                from: "sender@example.org", to: ["bob@example.com"], headers: .fields([("Subject", "never")]),
                body: .string("must not be sent\n"), server: "127.0.0.1", port: postfix.submissionPort,
                tls: .startTLS(TLSConfiguration(serverName: "localhost")), clientName: "client.example", timeout: 20,
                trace: trace.trace)
        } throws: { error in
            guard let error = error as? SMTPError, case .tls(let failure)? = error.underlying else { return false }
            return error.kind == .tls && failure.kind == .untrustedIssuer
        }
        #expect(!trace.sent.contains { $0.hasPrefix("MAIL") || $0.hasPrefix("AUTH") }, "\(trace.all)")
    }

    @Test func tls13MinimumAgainstA12OnlyPostfix() throws {
        var options = PostfixServer.Options()
        options.maximumTLSVersion = .tls12
        let postfix = try PostfixServer.start(options)
        defer { postfix.stop() }
        var configuration = postfixTLS(postfix)
        configuration.minimumVersion = .tls13
        let tcp = try TCPStream.connect(host: postfix.host, port: postfix.implicitTLSPort, timeout: 20)
        defer { tcp.close() }
        #expect {
            _ = try TLSStream(wrapping: tcp, configuration: configuration)
        } throws: { error in
            guard case TransportError.tls(let failure) = error else { return false }
            return failure.kind == .protocolVersion
        }
        // The default minimum (1.2) connects.
        let again = try TCPStream.connect(host: postfix.host, port: postfix.implicitTLSPort, timeout: 20)
        let tls = try TLSStream(wrapping: again, configuration: postfixTLS(postfix))
        #expect(tls.tlsSession?.protocolVersion == "TLSv1.2")
        tls.close()
    }
}

/// What a PLAIN initial response for a user would look like in a trace.
enum Base64Probe {
    static func plain(_ user: (name: String, password: String)) -> String {
        let bytes = [0] + Array(user.name.utf8) + [0] + Array(user.password.utf8)
        return Base64.encodeString(bytes)
    }
}

@Suite("SCRAM-SHA-256 against Postfix with Cyrus SASL", .serialized)
struct TLSAuthPostfixSCRAMTests {
    @Test func scramSHA256AgainstCyrus() throws {
        var options = PostfixServer.Options()
        options.mechanisms = ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"]
        let postfix = try PostfixServer.start(options)
        defer { postfix.stop() }
        let user = postfix.users[0]
        let trace = TraceRecorder()
        let tcp = try TCPStream.connect(host: postfix.host, port: postfix.submissionPort, timeout: 20)
        let session = try SMTPSession.connect(stream: tcp, trace: trace.trace)
        defer { session.close() }
        try session.ehlo("client.example")
        try session.startTLS(configuration: postfixTLS(postfix))
        #expect(session.extensions.authMechanisms.contains("SCRAM-SHA-256"), "\(session.ehloLines)")
        let client = try SASLMechanism.client(
            for: "on", offered: session.extensions.authMechanisms, user: user.name, secret: user.password)
        #expect(client.mechanism == "SCRAM-SHA-256")
        try session.authenticate(client)
        #expect(session.isAuthenticated)
        // A wrong password fails on the server's side with 535.
        let again = try TCPStream.connect(host: postfix.host, port: postfix.submissionPort, timeout: 20)
        let second = try SMTPSession.connect(stream: again)
        defer { second.close() }
        try second.ehlo("client.example")
        try second.startTLS(configuration: postfixTLS(postfix))
        #expect {
            try second.authenticate(try SASLScramSHA256(user: user.name, password: "wrong"))
        } throws: { error in
            (error as? SMTPError)?.kind == .authenticationFailed
        }
    }
}
