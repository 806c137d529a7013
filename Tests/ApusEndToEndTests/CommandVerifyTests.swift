import ApusTestSupport
import Foundation
import Testing

/// `-bv`: connect, TLS and AUTH as configured, print what the server offers,
/// send nothing; name the setting to change when the relay points at one.
@Suite struct CommandVerifyTests {
    @Test func printsTheOfferedExtensions() throws {
        let server = try scriptedServer {
            $0.extensions = ["PIPELINING", "SIZE 2048000", "8BITMIME", "CHUNKING", "AUTH PLAIN LOGIN"]
            $0.authenticate = AuthExchange.accepting(user: "u", password: "pw-verify")
        }
        defer { server.stop() }
        let sandbox = try ApusSandbox(port: server.port, settings: "user u\npassword pw-verify")
        let result = try sandbox.run(["-bv"])
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderr.isEmpty, "\(result.summary)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let offers = try #require(lines.firstIndex(of: "server offers:"), "\(result.stdout)")
        #expect(lines[(offers + 1)...].map { $0.trimmingCharacters(in: .whitespaces) }
            == ["PIPELINING", "SIZE 2048000", "8BITMIME", "CHUNKING", "AUTH PLAIN LOGIN"])
        #expect(result.stdout.contains(sandbox.configPath))
        #expect(result.stdout.contains("auth: accepted for u"), "\(result.stdout)")
        #expect(!result.stdout.contains("pw-verify"))
        server.waitForClosedConnections(1)
        let verbs = server.connections.flatMap(\.verbs)
        #expect(verbs.contains("AUTH"))
        #expect(!verbs.contains("MAIL") && !verbs.contains("DATA") && !verbs.contains("BDAT"), "\(verbs)")
    }

    @Test func smtpSinkToo() throws {
        let sink = try SMTPSink()
        let sandbox = try ApusSandbox(port: sink.port)
        let result = try sandbox.run(["-bv", "-v"])
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stdout.contains("  PIPELINING"))
        #expect(result.stdout.contains("tls: none"))
        #expect(result.stderr.contains("C: EHLO test.example"), "-v traces -bv too")
        #expect(try sink.savedMessages().isEmpty)
    }

    /// Implicit TLS configured, the port answers in plain SMTP: it wants `tls starttls`.
    @Test func plainPortWithImplicitTLSNamesStartTLS() throws {
        let server = try scriptedServer()
        defer { server.stop() }
        let sandbox = try ApusSandbox(port: server.port, settings: "tls on\ntls_verify off")
        let result = try sandbox.run(["-bv"])
        #expect(result.status == 69, "\(result.summary)")
        #expect(result.stderrLines.first?.hasPrefix("apus: ") == true)
        #expect(result.stderr.contains("tls starttls"), "\(result.summary)")
    }

    /// `auth on` in clear to a server offering no AUTH: AUTH comes after STARTTLS.
    @Test func noAuthOfferedInClearNamesStartTLS() throws {
        let server = try scriptedServer { $0.extensions = ["PIPELINING", "8BITMIME", "STARTTLS"] }
        defer { server.stop() }
        let sandbox = try ApusSandbox(port: server.port, settings: "tls off\nauth on\nuser u\npassword p")
        let result = try sandbox.run(["-bv"])
        #expect(result.status == 69, "\(result.summary)")
        #expect(result.stderr.contains("tls starttls"), "\(result.summary)")
        #expect(!result.stderr.contains("password"))
    }

    @Test func refusedConnectionIsUnavailable() throws {
        let sandbox = try ApusSandbox(refusing: "")
        let result = try sandbox.run(["-bv"])
        #expect(result.status == 69, "\(result.summary)")
        #expect(result.stderr.contains("Connection refused"), "\(result.summary)")
        #expect(sandbox.queueFiles().isEmpty)
    }

    @Test func starttlsRequiredButNotOffered() throws {
        let server = try scriptedServer()
        defer { server.stop() }
        let sandbox = try ApusSandbox(port: server.port, settings: "tls starttls")
        let result = try sandbox.run(["-bv"])
        #expect(result.status == 69, "\(result.summary)")
        #expect(result.stderr.contains("STARTTLS"), "\(result.summary)")
        server.waitForClosedConnections(1)
        #expect(!server.connections.flatMap(\.verbs).contains("MAIL"))
    }
}
