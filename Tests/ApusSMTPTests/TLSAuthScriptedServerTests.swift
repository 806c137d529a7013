import ApusSMTP
import ApusTestSupport
import ApusTransport
import Testing

@Suite("STARTTLS and implicit TLS against the scriptable server")
struct TLSAuthScriptedServerTests {
    @Test func startTLSThenTransactionOverTLS() throws {
        let certificates = try TestCertificates.shared()
        var configuration = ScriptableSMTPServer.Configuration()
        configuration.extensions.append("STARTTLS")
        configuration.startTLS = TLSServerStream.wrapper(certificates.server)
        let server = try ScriptableSMTPServer(configuration)
        defer { server.stop() }
        var tls = TLSConfiguration(serverName: "localhost")
        tls.trustFile = certificates.caFile
        let result = try SMTP.sendMail(
            from: "a@example.org", to: ["b@example.com"], headers: .fields([("Subject", "scripted TLS")]),
            body: .string("hello\n"), server: server.host, port: server.port, tls: .startTLS(tls),
            clientName: "client.example", timeout: 10)
        #expect(result.accepted.count == 1)
        #expect(server.messages.count == 1)
        #expect(server.commandLines.contains("STARTTLS"))
    }

    @Test func implicitTLSWithPinnedSelfSignedCertificate() throws {
        let certificates = try TestCertificates.shared()
        var configuration = ScriptableSMTPServer.Configuration()
        configuration.startTLS = TLSServerStream.wrapper(certificates.selfSigned)
        configuration.implicitTLS = true
        let server = try ScriptableSMTPServer(configuration)
        defer { server.stop() }
        var tls = TLSConfiguration(serverName: "localhost")
        tls.fingerprint = certificates.selfSigned.fingerprint
        let result = try SMTP.sendMail(
            from: "a@example.org", to: ["b@example.com"], headers: .fields([("Subject", "pinned")]),
            body: .string("hello\n"), server: server.host, port: server.port, tls: .implicit(tls),
            clientName: "client.example", timeout: 10)
        #expect(result.accepted.count == 1)
    }
}
