import ApusTestSupport
import Foundation
import Glibc
import Testing

/// What an OAuth-speaking SMTP server saw: every AUTH with its mechanism,
/// user and bearer token, in order.
final class BearerRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [(mechanism: String, user: String, token: String, connection: Int)] = []
    private var refused: Set<String> = []
    private var refuseAll = false

    var attempts: [(mechanism: String, user: String, token: String, connection: Int)] { lock.withLock { seen } }
    var tokens: [String] { attempts.map(\.token) }

    func refuse(_ token: String) { lock.withLock { _ = refused.insert(token) } }
    func refuseEverything() { lock.withLock { refuseAll = true } }

    /// `user=U^Aauth=Bearer T^A^A` (XOAUTH2) or `n,a=U,^A…auth=Bearer T^A^A` (OAUTHBEARER).
    static func parse(_ text: String) -> (user: String, token: String)? {
        let fields = text.split(separator: "\u{1}", omittingEmptySubsequences: true)
        var user: String?
        var token: String?
        for field in fields {
            if field.hasPrefix("user=") { user = String(field.dropFirst(5)) }
            if field.hasPrefix("n,a=") { user = String(field.dropFirst(4).prefix { $0 != "," }) }
            if field.hasPrefix("auth=Bearer ") { token = String(field.dropFirst(12)) }
        }
        guard let user, let token else { return nil }
        return (user, token)
    }

    /// Answers like Google (XOAUTH2: 334 with a base64 JSON error, then 535
    /// 5.7.8) and Microsoft (535 5.7.3) / RFC 7628 (OAUTHBEARER: 334 JSON, then 535).
    var authenticator: @Sendable (AuthExchange) throws -> ScriptedResponse {
        { [self] exchange in
            guard exchange.mechanism == "XOAUTH2" || exchange.mechanism == "OAUTHBEARER" else {
                return "504 5.5.4 Unrecognized authentication type"
            }
            let response = try exchange.initialResponse ?? exchange.challenge("")
            guard let data = Data(base64Encoded: response),
                let (user, token) = Self.parse(String(decoding: data, as: UTF8.self))
            else { return "501 5.5.2 Cannot decode response" }
            let refuse = lock.withLock {
                seen.append((exchange.mechanism, user, token, exchange.connection))
                return refuseAll || refused.contains(token)
            }
            guard refuse else { return "235 2.7.0 Accepted" }
            if exchange.mechanism == "XOAUTH2" {
                let json = #"{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}"#
                let answer = try exchange.challenge(Data(json.utf8).base64EncodedString())
                guard answer.isEmpty else { return "501 5.5.2 expected an empty response" }
                return "535 5.7.8 Username and Password not accepted"
            }
            let json = #"{"status":"invalid_token","scope":"https://outlook.office365.com/.default"}"#
            let answer = try exchange.challenge(Data(json.utf8).base64EncodedString())
            guard answer == "AQ==" else { return "501 5.5.2 expected ^A" }
            return "535 5.7.3 Authentication unsuccessful"
        }
    }
}

/// One test's world: the queue harness, a token endpoint on loopback over
/// HTTPS, and a scriptable SMTP server taking bearer tokens.
final class OAuthWorld: @unchecked Sendable {
    static let clientSecret = "S3cret-client-Value-42"
    static let mailbox = "host42@example.com"

    let harness: QueueHarness
    let certificates: TestCertificates
    let recorder = BearerRecorder()
    let server: ScriptableSMTPServer
    var endpoint: TokenEndpoint?
    let endpointPort: UInt16
    let secretFile: String

    init(startEndpoint: Bool = true, behaviour: [String: Any] = [:]) throws {
        harness = try QueueHarness()
        certificates = try TestCertificates.shared()
        let recorder = self.recorder
        server = try dataServer {
            $0.extensions += ["AUTH XOAUTH2 OAUTHBEARER"]
            $0.authenticate = recorder.authenticator
        }
        endpointPort = try freeLoopbackPort()
        if startEndpoint {
            endpoint = try TokenEndpoint(certificates: certificates, port: endpointPort, behaviour: behaviour)
        }
        secretFile = try harness.directory.write("client-secret", Self.clientSecret + "\n", mode: 0o600)
    }

    func stop() {
        server.stop()
        endpoint?.stop()
    }

    var tokenURL: String { "https://127.0.0.1:\(endpointPort)/oauth2/token" }

    /// Writes the default ``config(_:auth:oauth:extra:)`` and submits a message with `subject` through it.
    func submit(subject: String) throws -> (config: String, result: SubprocessResult) {
        let config = try config()
        return (config, try harness.submit(config, subject: subject))
    }

    /// A configuration for grant client_credentials (unless `oauth` replaces its lines).
    @discardableResult
    func config(_ name: String = "apus.conf", auth: String = "xoauth2", oauth: [String]? = nil, extra: [String] = [])
        throws -> String
    {
        let lines =
            oauth ?? [
                "oauth2_client_id client-123", "oauth2_client_secret_file \(secretFile)",
                "oauth2_scope https://outlook.office365.com/.default",
            ]
        return try harness.config(
            name, port: server.port, timeout: "5",
            extra: [
                "user \(Self.mailbox)", "auth \(auth)", "oauth2_token_url \(tokenURL)",
                "tls_trust_file \(certificates.caFile)",
            ] + lines + extra)
    }

    /// Every byte apus left where users or admins could look: the queue
    /// directory's files other than the token cache, the log, and `extra`.
    func leakedText(_ extra: [String]) throws -> String {
        var text = harness.log() + extra.joined(separator: "\n")
        for name in try harness.queueFiles() where !name.hasPrefix("oauth2-") {
            text += String(decoding: try harness.directory.read("q/\(name)"), as: UTF8.self)
        }
        return text
    }
}

@Suite(.serialized) struct OAuth2Tests {
    /// Microsoft 365 style: client credentials, the token cached in the queue
    /// directory (mode 0660), a second submission without a token request,
    /// and no secret or token in stderr, the -v trace, the -X file, the log or the queue.
    @Test func clientCredentialsAndCache() throws {
        let world = try OAuthWorld()
        defer { world.stop() }
        let config = try world.config()
        let traceFile = world.harness.directory.file("trace.x")
        let first = try world.harness.apus(
            ["-C", config, "-v", "-X", traceFile, "-i", "--", "rcpt@example.com"],
            input: QueueHarness.message(subject: "oauth-one"))
        #expect(first.status == 0, "\(first.stderr)")
        let endpoint = try #require(world.endpoint)
        let forms = endpoint.forms()
        #expect(forms.count == 1)
        #expect(forms.first?["grant_type"] == "client_credentials")
        #expect(forms.first?["client_id"] == "client-123")
        #expect(forms.first?["client_secret"] == OAuthWorld.clientSecret)
        #expect(forms.first?["scope"] == "https://outlook.office365.com/.default")
        let request = try #require(endpoint.requests().first)
        #expect(request["host"] as? String == "127.0.0.1:\(world.endpointPort)")
        #expect(request["content_type"] as? String == "application/x-www-form-urlencoded")
        #expect(request["path"] as? String == "/oauth2/token")
        #expect(world.recorder.attempts.map(\.mechanism) == ["XOAUTH2"])
        #expect(world.recorder.attempts.map(\.user) == [OAuthWorld.mailbox])
        #expect(world.recorder.tokens == ["tok-1"])
        #expect(acceptedSubjects(world.server)["oauth-one"] == 1)

        let cache = try world.harness.queueFiles().filter { $0.hasPrefix("oauth2-") && $0.hasSuffix(".token") }
        #expect(cache.count == 1)
        let cacheFile = try #require(cache.first)
        let attributes = try FileManager.default.attributesOfItem(atPath: world.harness.queue + "/" + cacheFile)
        #expect((attributes[.posixPermissions] as? Int) == 0o660)

        let second = try world.harness.submit(config, subject: "oauth-two")
        #expect(second.status == 0, "\(second.stderr)")
        #expect(endpoint.forms().count == 1, "the cached token should have been used")
        #expect(world.recorder.tokens == ["tok-1", "tok-1"])
        #expect(acceptedSubjects(world.server)["oauth-two"] == 1)

        let trace = (try? String(contentsOfFile: traceFile, encoding: .utf8)) ?? ""
        #expect(first.stderr.contains("oauth2: POST"), "\(first.stderr)")
        #expect(trace.contains("AUTH XOAUTH2 <redacted>"), "\(trace)")
        let everything = try world.leakedText([first.stderr, first.stdout, second.stderr, trace])
        #expect(!everything.contains(OAuthWorld.clientSecret))
        #expect(!everything.contains("tok-1"))
    }

    /// A token that expires within 60 s is not reused.
    @Test func shortLivedTokenIsNotReused() throws {
        let world = try OAuthWorld(behaviour: ["expires_in": "50"])
        defer { world.stop() }
        let config = try world.config()
        for subject in ["short-1", "short-2"] {
            let result = try world.harness.submit(config, subject: subject)
            #expect(result.status == 0, "\(result.stderr)")
        }
        #expect(world.endpoint?.forms().count == 2)
        #expect(world.recorder.tokens == ["tok-1", "tok-2"])
    }

    /// The server refuses the (cached) token the way Google and Microsoft do:
    /// apus gets a new one and tries AUTH once more on the same connection.
    @Test(arguments: ["xoauth2", "oauthbearer"])
    func refusedTokenIsRefreshedOnce(mechanism: String) throws {
        let world = try OAuthWorld()
        defer { world.stop() }
        let config = try world.config(auth: mechanism)
        world.recorder.refuse("tok-1")
        let result = try world.harness.submit(config, subject: "refused-\(mechanism)")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(world.recorder.tokens == ["tok-1", "tok-2"])
        #expect(Set(world.recorder.attempts.map(\.connection)).count == 1)
        #expect(world.recorder.attempts.allSatisfy { $0.mechanism == mechanism.uppercased() })
        #expect(world.endpoint?.forms().count == 2)
        #expect(acceptedSubjects(world.server)["refused-\(mechanism)"] == 1)
        // The refreshed token went to the cache: the next message uses it.
        let again = try world.harness.submit(config, subject: "after-\(mechanism)")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(world.recorder.tokens == ["tok-1", "tok-2", "tok-2"])
        #expect(world.endpoint?.forms().count == 2)
    }

    /// Refused again after the refresh: one retry only, then the message is queued.
    @Test func refusedTwiceIsQueued() throws {
        let world = try OAuthWorld()
        defer { world.stop() }
        let config = try world.config()
        world.recorder.refuseEverything()
        let result = try world.harness.submit(config, subject: "refused-twice")
        #expect(result.status == 0, "\(result.stderr)")
        let queued = try #require(parseQueuedLine(result), "\(result.stderr)")
        #expect(queued.reason.contains("535"), "\(queued.reason)")
        #expect(world.recorder.tokens == ["tok-1", "tok-2"])
        #expect(try world.harness.visibleIDs() == [queued.id])
        #expect(!(try world.leakedText([result.stderr])).contains("tok-"))
    }

    /// A user's refresh token: sent with the client id; the rotated token
    /// the endpoint returns replaces the file, owner and mode kept. The answer
    /// comes chunked.
    @Test func refreshTokenGrantRotatesTheFile() throws {
        let world = try OAuthWorld(behaviour: ["refresh_token": "rt-new-0002", "chunked": true])
        defer { world.stop() }
        let refreshFile = try world.harness.directory.write("refresh-token", "rt-old-0001\n", mode: 0o640)
        if runningAsRoot { #expect(chown(refreshFile, 1234, 4321) == 0) }
        let config = try world.config(oauth: [
            "oauth2_grant refresh_token", "oauth2_client_id desktop-client",
            "oauth2_refresh_token_file \(refreshFile)", "oauth2_scope https://mail.google.com/",
        ])
        let result = try world.harness.apus(
            ["-C", config, "-v", "-i", "--", "rcpt@example.com"], input: QueueHarness.message(subject: "refresh"))
        #expect(result.status == 0, "\(result.stderr)")
        let form = try #require(world.endpoint?.forms().first)
        #expect(form["grant_type"] == "refresh_token")
        #expect(form["refresh_token"] == "rt-old-0001")
        #expect(form["client_id"] == "desktop-client")
        #expect(form["client_secret"] == nil)
        #expect(world.recorder.tokens == ["tok-1"])
        #expect(try String(contentsOfFile: refreshFile, encoding: .utf8) == "rt-new-0002\n")
        var status = stat()
        #expect(stat(refreshFile, &status) == 0)
        #expect(status.st_mode & 0o7777 == 0o640)
        if runningAsRoot {
            #expect(status.st_uid == 1234)
            #expect(status.st_gid == 4321)
        }
        #expect(try world.harness.directory.contents().filter { $0.hasPrefix(".refresh-token") }.isEmpty)
        let everything = try world.leakedText([result.stderr, result.stdout])
        #expect(!everything.contains("rt-old-0001"))
        #expect(!everything.contains("rt-new-0002"))
    }

    /// Google Workspace style: a service account's RS256 JWT with the
    /// subject, verified by the endpoint with the `cryptography` package.
    @Test func jwtBearerAssertionIsSignedRS256() throws {
        let world = try OAuthWorld(startEndpoint: false)
        defer { world.stop() }
        let key = world.harness.directory.file("service.pem")
        let publicKey = world.harness.directory.file("service.pub")
        let made = try Subprocess.run(
            "/usr/bin/openssl",
            arguments: ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key],
            timeout: 60)
        #expect(made.status == 0, "\(made.stderr)")
        let extracted = try Subprocess.run(
            "/usr/bin/openssl", arguments: ["pkey", "-in", key, "-pubout", "-out", publicKey], timeout: 30)
        #expect(extracted.status == 0, "\(extracted.stderr)")
        world.endpoint = try TokenEndpoint(
            certificates: world.certificates, port: world.endpointPort, behaviour: ["public_key": publicKey])
        let config = try world.config(oauth: [
            "oauth2_grant jwt_bearer", "oauth2_client_id mailer@project.iam.gserviceaccount.com",
            "oauth2_private_key_file \(key)", "oauth2_subject alice@example.com",
            "oauth2_scope https://mail.google.com/",
        ])
        let before = Int(time(nil))
        let result = try world.harness.submit(config, subject: "jwt")
        #expect(result.status == 0, "\(result.stderr)")
        let request = try #require(world.endpoint?.requests().first)
        let form = try #require(request["form"] as? [String: String])
        #expect(form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer")
        #expect(form["client_id"] == nil)
        #expect(request["signature_ok"] as? Bool == true)
        let header = try #require(request["jwt_header"] as? [String: Any])
        #expect(header["alg"] as? String == "RS256")
        let claims = try #require(request["jwt_claims"] as? [String: Any])
        #expect(claims["iss"] as? String == "mailer@project.iam.gserviceaccount.com")
        #expect(claims["sub"] as? String == "alice@example.com")
        #expect(claims["aud"] as? String == world.tokenURL)
        #expect(claims["scope"] as? String == "https://mail.google.com/")
        let issued = try #require(claims["iat"] as? Int)
        let expires = try #require(claims["exp"] as? Int)
        #expect(expires - issued == 3600)
        #expect(abs(issued - before) < 60)
        #expect(world.recorder.tokens == ["tok-1"])
        let assertion = try #require(form["assertion"])
        #expect(!(try world.leakedText([result.stderr])).contains(assertion))
    }

    /// The endpoint is down: the message is queued with a reason naming the
    /// endpoint and nothing reaches the SMTP server; once it is up, -q delivers.
    @Test func endpointDownThenUp() throws {
        let world = try OAuthWorld(startEndpoint: false)
        defer { world.stop() }
        let (config, result) = try world.submit(subject: "down")
        #expect(result.status == 0, "\(result.stderr)")
        let queued = try #require(parseQueuedLine(result), "\(result.stderr)")
        #expect(queued.reason.contains("OAuth2 token endpoint \(world.tokenURL)"), "\(queued.reason)")
        #expect(world.server.connections.isEmpty)

        world.endpoint = try TokenEndpoint(certificates: world.certificates, port: world.endpointPort)
        let run = try world.harness.runQueue(config)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(acceptedSubjects(world.server)["down"] == 1)
        #expect(try world.harness.visibleIDs().isEmpty)
        #expect(world.recorder.tokens == ["tok-1"])
    }

    /// An OAuth error (invalid_grant with a description) is a temporary
    /// failure whose reason carries the code and description; -bv says so
    /// and names the setting to check. A 503 is temporary too.
    @Test func oauthErrorsAreTemporaryAndNamed() throws {
        let world = try OAuthWorld(behaviour: [
            "error": "invalid_grant", "error_description": "AADSTS7000215: Invalid client secret provided.",
        ])
        defer { world.stop() }
        let (config, result) = try world.submit(subject: "invalid-grant")
        #expect(result.status == 0, "\(result.stderr)")
        let queued = try #require(parseQueuedLine(result), "\(result.stderr)")
        #expect(
            queued.reason.contains("invalid_grant: AADSTS7000215: Invalid client secret provided."), "\(queued.reason)")
        #expect(world.server.connections.isEmpty)

        let verify = try world.harness.apus(["-C", config, "-bv"])
        #expect(verify.status == 69, "\(verify.stderr)")
        #expect(verify.stderr.contains("invalid_grant"), "\(verify.stderr)")
        #expect(verify.stderr.contains("hint: "), "\(verify.stderr)")

        try world.endpoint?.setBehaviour(["status": 503])
        let unavailable = try world.harness.submit(config, subject: "unavailable")
        let second = try #require(parseQueuedLine(unavailable), "\(unavailable.stderr)")
        #expect(second.reason.contains("answered HTTP 503"), "\(second.reason)")
        let everything = try world.leakedText([result.stderr, verify.stderr, verify.stdout, unavailable.stderr])
        #expect(!everything.contains(OAuthWorld.clientSecret))
    }

    /// An endpoint that echoes the secret in its error description never
    /// gets it into the reason, the queue or the log.
    @Test func echoedSecretIsScrubbed() throws {
        let world = try OAuthWorld(behaviour: [
            "error": "invalid_client", "error_description": "secret \(OAuthWorld.clientSecret) is wrong",
        ])
        defer { world.stop() }
        let (_, result) = try world.submit(subject: "echo")
        let queued = try #require(parseQueuedLine(result), "\(result.stderr)")
        #expect(queued.reason.contains("invalid_client: secret (secret) is wrong"), "\(queued.reason)")
        #expect(!(try world.leakedText([result.stderr])).contains(OAuthWorld.clientSecret))
    }

    /// A refresh token file that cannot be read stops the submission like an
    /// unreadable password_file: exit 71, one line naming the file, nothing sent.
    @Test func missingRefreshTokenFileIsLocal() throws {
        let world = try OAuthWorld()
        defer { world.stop() }
        let missing = world.harness.directory.file("no-such-refresh-token")
        let config = try world.config(oauth: [
            "oauth2_grant refresh_token", "oauth2_client_id c", "oauth2_refresh_token_file \(missing)",
        ])
        let result = try world.harness.submit(config, subject: "missing")
        #expect(result.status == 71, "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("oauth2_refresh_token_file \(missing)"), "\(result.stderr)")
        #expect(world.endpoint?.forms().isEmpty == true)
        #expect(world.server.connections.isEmpty)
    }

    /// -bv gets a token from the endpoint (even with one cached) and reports
    /// its expiry, never the token.
    @Test func verifyReportsTheExpiry() throws {
        let world = try OAuthWorld()
        defer { world.stop() }
        let config = try world.config()
        let first = try world.harness.apus(["-C", config, "-bv"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(
            first.stdout.contains("oauth2: token from \(world.tokenURL) (grant client_credentials), expires 20"),
            "\(first.stdout)")
        #expect(first.stdout.contains("auth: accepted for \(OAuthWorld.mailbox)"), "\(first.stdout)")
        let second = try world.harness.apus(["-C", config, "-bv"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(world.endpoint?.forms().count == 2)
        #expect(!(first.stdout + second.stdout + first.stderr).contains("tok-"))
    }

    /// An endpoint whose certificate is not trusted (no tls_trust_file) is refused: queued, nothing sent.
    @Test func untrustedEndpointIsRefused() throws {
        let world = try OAuthWorld()
        defer { world.stop() }
        let config = try world.harness.config(
            port: world.server.port, timeout: "5",
            extra: [
                "user \(OAuthWorld.mailbox)", "auth xoauth2", "oauth2_token_url \(world.tokenURL)",
                "oauth2_client_id c", "oauth2_client_secret_file \(world.secretFile)",
            ])
        let result = try world.harness.submit(config, subject: "untrusted")
        let queued = try #require(parseQueuedLine(result), "\(result.stderr)")
        #expect(queued.reason.contains("not signed by a trusted authority"), "\(queued.reason)")
        #expect(world.endpoint?.forms().isEmpty == true)
    }
}

/// OAuth2 through the setgid binary for an unprivileged user: the system
/// configuration and the client secret file are readable only by the group,
/// the token is cached in the queue directory for the group only, and a
/// system file holding `oauth2_client_secret` that every user can read is refused.
@Suite(.serialized, .enabled(if: runningAsRoot, "needs root to make a setgid copy and a test user"))
struct OAuth2SetgidTests {
    @Test(.enabled(if: SetgidFixture.namespacesWork, "no private mount namespace (unshare/overlay) here"))
    func unprivilegedUserGetsATokenThroughTheGroup() throws {
        let fixture = try SetgidFixture()
        defer { fixture.remove() }
        let certificates = try TestCertificates.shared()
        let recorder = BearerRecorder()
        let server = try dataServer {
            $0.extensions += ["AUTH XOAUTH2"]
            $0.authenticate = recorder.authenticator
        }
        defer { server.stop() }
        let endpoint = try TokenEndpoint(certificates: certificates)
        defer { endpoint.stop() }
        let queue = try fixture.directory.makeDirectory("q", mode: 0o770)
        #expect(chown(queue, 0, fixture.groupID) == 0 && chmod(queue, 0o2770) == 0)
        let secretFile = try fixture.writeGroupFile("client-secret", OAuthWorld.clientSecret + "\n", mode: 0o640)
        let system = """
            queue_dir \(queue)
            log off
            host 127.0.0.1
            port \(server.port)
            tls off
            timeout 5
            domain test.example
            user \(OAuthWorld.mailbox)
            oauth2_token_url \(endpoint.url)
            oauth2_client_id client-123
            oauth2_client_secret_file \(secretFile)
            tls_trust_file \(certificates.caFile)

            """
        let input = "Subject: setgid-oauth\n\nhello\n"
        let sent = try fixture.runWithSystemConfig(system, mode: "0640", ["-i", "rcpt@example.com"], input: input)
        #expect(sent.status == 0, "\(sent.summary)")
        #expect(endpoint.forms().first?["client_secret"] == OAuthWorld.clientSecret)
        #expect(recorder.tokens == ["tok-1"])
        #expect(server.waitForMessages(1).count == 1)
        #expect(!(sent.stdout + sent.stderr).contains(OAuthWorld.clientSecret))

        // The cache and the refresh lock beside it, both for the group only.
        let names = try FileManager.default.contentsOfDirectory(atPath: queue).filter { $0.hasPrefix("oauth2-") }
        #expect(names.count == 2 && names.filter { $0.hasSuffix(".lock") }.count == 1, "\(names)")
        let cacheFile = queue + "/" + (try #require(names.first { $0.hasSuffix(".token") }))
        for name in names {
            var status = stat()
            #expect(stat(queue + "/" + name, &status) == 0)
            #expect(status.st_mode & 0o7777 == 0o660, "\(name)")
            #expect(status.st_gid == fixture.groupID, "\(name)")
        }
        // The user cannot read the cache or the secret without apus.
        for path in [cacheFile, secretFile] {
            let peek = try Subprocess.run(
                "/usr/sbin/runuser", arguments: ["-u", fixture.user, "--", "/bin/cat", path], timeout: 20)
            #expect(peek.status != 0, "\(path) readable by the user: \(peek.stdout)")
        }
        // A second message reuses the cached token.
        let again = try fixture.runWithSystemConfig(system, mode: "0640", ["-i", "rcpt@example.com"], input: input)
        #expect(again.status == 0, "\(again.summary)")
        #expect(endpoint.forms().count == 1)
        #expect(recorder.tokens == ["tok-1", "tok-1"])

        // The secret in a world-readable system file: refused before anything is sent.
        let inline = system.replacingOccurrences(
            of: "oauth2_client_secret_file \(secretFile)", with: "oauth2_client_secret \(OAuthWorld.clientSecret)")
        let exposed = try fixture.runWithSystemConfig(inline, mode: "0644", ["-bv"])
        #expect(exposed.status == 78, "\(exposed.summary)")
        #expect(!exposed.stderr.contains(OAuthWorld.clientSecret))
        #expect(endpoint.forms().count == 1)
    }
}
