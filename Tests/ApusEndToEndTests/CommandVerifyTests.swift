import ApusTestSupport
import Foundation
import Testing

/// `-bv`: connect, TLS and AUTH as configured, print what the server offers,
/// send nothing; name the setting to change when the relay points at one.
@Suite struct CommandVerifyTests {
    @Test func printsTheOfferedExtensions() throws {
        let (server, sandbox) = try scriptedSandbox(settings: "user u\npassword pw-verify") {
            $0.extensions = ["PIPELINING", "SIZE 2048000", "8BITMIME", "CHUNKING", "AUTH PLAIN LOGIN"]
            $0.authenticate = AuthExchange.accepting(user: "u", password: "pw-verify")
        }
        let result = try sandbox.run(["-bv"])
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderr.isEmpty, "\(result.summary)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let offers = try #require(lines.firstIndex(of: "server offers:"), "\(result.stdout)")
        #expect(
            lines[(offers + 1)...].map { $0.trimmingCharacters(in: .whitespaces) }
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
        let (_, sandbox) = try scriptedSandbox(settings: "tls on\ntls_verify off")
        let result = try sandbox.run(["-bv"])
        #expect(result.status == 69, "\(result.summary)")
        #expect(result.stderrLines.first?.hasPrefix("apus: ") == true)
        #expect(result.stderr.contains("tls starttls"), "\(result.summary)")
    }

    /// `auth on` in clear to a server offering no AUTH: AUTH comes after STARTTLS.
    @Test func noAuthOfferedInClearNamesStartTLS() throws {
        let (_, sandbox) = try scriptedSandbox(settings: "tls off\nauth on\nuser u\npassword p") {
            $0.extensions = ["PIPELINING", "8BITMIME", "STARTTLS"]
        }
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
        let (server, sandbox) = try scriptedSandbox(settings: "tls starttls")
        let result = try sandbox.run(["-bv"])
        #expect(result.status == 69, "\(result.summary)")
        #expect(result.stderr.contains("STARTTLS"), "\(result.summary)")
        server.waitForClosedConnections(1)
        #expect(!server.connections.flatMap(\.verbs).contains("MAIL"))
    }

    /// `tls starttls` against the real Postfix's implicit-TLS port: the
    /// silence is probed for a few seconds, not the whole `timeout` (30 s).
    @Test func implicitTLSPortWithStartTLSIsFoundQuickly() throws {
        let postfix = try PostfixServer.start(InteropTests.options)
        defer { postfix.stop() }
        let sandbox = try ApusSandbox(
            port: postfix.implicitTLSPort, settings: "tls starttls\ntls_verify off\ntimeout 30")
        try sandbox.writeConfig(sandbox.settings.replacingOccurrences(of: "timeout 3\n", with: ""))
        let start = Date()
        let result = try sandbox.run(["-bv"], timeout: 60)
        let elapsed = Date().timeIntervalSince(start)
        #expect(result.status == 69, "\(result.summary)")
        #expect(result.stderr.contains("set tls on"), "\(result.summary)")
        #expect(elapsed < 15, "took \(elapsed) s")
    }

    /// A 535 to AUTH names the settings to check, without the password.
    @Test func refusedCredentialsNameUserAndPassword() throws {
        let (_, sandbox) = try scriptedSandbox(settings: "user u\npassword wrong-secret") {
            $0.extensions = ["PIPELINING", "AUTH PLAIN"]
            $0.authenticate = AuthExchange.accepting(user: "u", password: "right")
        }
        let result = try sandbox.run(["-bv"])
        #expect(result.status == 69, "\(result.summary)")
        #expect(result.stderr.contains("check user (u) and the password setting (password (set))"), "\(result.summary)")
        #expect(!result.stderr.contains("wrong-secret") && !result.stdout.contains("wrong-secret"))
    }

    /// A `domain` without a dot draws a warning (`root@vm` is refused by real relays).
    @Test func unqualifiedDomainIsWarned() throws {
        let (server, sandbox) = try scriptedSandbox()
        try sandbox.writeConfig(sandbox.settings.replacingOccurrences(of: "domain test.example", with: "domain vm"))
        let result = try sandbox.run(["-bv"])
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stdout.contains("warning: domain vm is not fully qualified"), "\(result.stdout)")
        let fine = try ApusSandbox(port: server.port)
        #expect(try !fine.run(["-bv"]).stdout.contains("not fully qualified"))
    }

    /// A bare `250 ` line at the end of the EHLO reply adds no empty item.
    @Test func bareEHLOLineAddsNothing() throws {
        let (_, sandbox) = try scriptedSandbox { $0.extensions = ["PIPELINING", "8BITMIME", ""] }
        let result = try sandbox.run(["-bv"])
        #expect(result.status == 0, "\(result.summary)")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let offers = try #require(lines.firstIndex(of: "server offers:"), "\(result.stdout)")
        #expect(Array(lines[(offers + 1)...]) == ["  PIPELINING", "  8BITMIME", ""], "\(result.stdout)")
    }
}
