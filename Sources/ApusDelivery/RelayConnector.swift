import ApusConfig
import ApusOAuth
import ApusSMTP
import ApusTransport
import Glibc

/// An SMTP session to an account's relay, greeted, encrypted and
/// authenticated as the account says, ready for transactions.
package final class RelaySession {
    /// The session.
    package let session: SMTPSession
    /// `host[addr]:port` of the relay that answered.
    package let relay: String
    /// The relay as configured (`host:port`), for messages.
    package let configured: Relay
    /// With OAuth2: when the token used expires (Unix seconds), and whether it came from the cache.
    package internal(set) var oauth2Token: (expiresAt: Int64, fromCache: Bool)?

    init(session: SMTPSession, relay: String, configured: Relay) {
        self.session = session
        self.relay = relay
        self.configured = configured
    }

    /// The TLS version in use (`TLSv1.3`), or nil for plain text.
    package var tlsVersion: String? { session.connection.stream.tlsSession?.protocolVersion }

    /// Ends the session politely (QUIT) and closes it.
    package func close() {
        session.quit()
    }
}

/// Why a relay could not be used: the last error, and whether a later attempt
/// may succeed (every connection-stage failure is temporary: refused, lost,
/// timed out, DNS, TLS, AUTH; apus then queues).
package struct RelayFailure: Error, CustomStringConvertible {
    /// What went wrong, as a value to decide on (the message is for people).
    package enum Kind: Hashable, Sendable {
        /// No relay is configured.
        case noRelay
        /// The connection (or implicit TLS on it) could not be made: ``transport`` says why.
        case connect
        /// The SMTP dialogue failed (greeting, EHLO, STARTTLS, AUTH): ``underlying`` says how.
        case smtp
        /// `tls starttls` is set and the relay does not offer STARTTLS.
        case noSTARTTLS
        /// `auth on` and the relay offers no mechanism apus can use.
        case noUsableMechanism
        /// `auth` names a mechanism apus does not know.
        case unknownMechanism
        /// AUTH would go in clear to a relay that is not on loopback: refused.
        case authInClear
        /// `auth` is on and no user is configured.
        case noUser
        /// `auth` is on and no password source is configured.
        case noPassword
        /// The password could not be had (passwordeval, password_file): local.
        case passwordUnavailable
        /// No OAuth2 token could be had: ``oauth2`` says why.
        case oauth2
        /// Anything else (a local error while opening).
        case other
    }

    /// What went wrong.
    package var kind: Kind
    /// One line: `connect to smtp.example.com[203.0.113.5]:587: Connection refused`.
    package var message: String
    /// `host[addr]:port` when a connection was made, else nil (`relay=none`).
    package var relay: String?
    /// Whether the failure is local (passwordeval could not run: exit 71).
    package var isLocal = false
    /// The engine's error, when there was one.
    package var underlying: SMTPError?
    /// The transport error, for ``Kind/connect``.
    package var transport: TransportError?
    /// The OAuth2 failure, for ``Kind/oauth2``.
    package var oauth2: OAuth2Failure?

    /// Creates a failure.
    package init(
        _ kind: Kind, message: String, relay: String?, isLocal: Bool = false, underlying: SMTPError? = nil,
        transport: TransportError? = nil, oauth2: OAuth2Failure? = nil
    ) {
        self.kind = kind
        self.message = message
        self.relay = relay
        self.isLocal = isLocal
        self.underlying = underlying
        self.transport = transport ?? underlying?.underlying
        self.oauth2 = oauth2
    }

    package var description: String { message }
}

/// Opens ``RelaySession``s for accounts: the relay, then each `fallback` in
/// order while the previous one fails; TLS per `tls` (implicit, or STARTTLS
/// that fails closed); EHLO with HELO fallback; AUTH per `auth`.
package struct RelayConnector {
    /// The account whose relay is used.
    package var account: Account
    /// Where the SMTP dialogue goes (`-v`, `-X`), or nil.
    package var trace: SMTPTrace?
    /// The queue directory, where OAuth2 tokens are cached (nil: no cache).
    package var tokenCacheDirectory: String?
    /// The group of cached token files (the apus group when setgid), or nil.
    package var tokenCacheGroup: gid_t?
    /// With OAuth2: ask the endpoint for a new token even when a cached one is
    /// still good (`-bv`, which checks the credentials).
    package var freshToken = false
    /// The OAuth2 token of this connector's sessions (fetched once, refreshed once).
    private let oauth = OAuthState()

    /// A connector for `account`; with OAuth2, tokens are cached in
    /// `tokenCacheDirectory` (the queue directory) with group `tokenCacheGroup`.
    package init(account: Account, trace: SMTPTrace?, tokenCacheDirectory: String? = nil, tokenCacheGroup: gid_t? = nil)
    {
        self.account = account
        self.trace = trace
        self.tokenCacheDirectory = tokenCacheDirectory
        self.tokenCacheGroup = tokenCacheGroup
    }

    /// Connects to the first relay that works. Throws the last ``RelayFailure``.
    ///
    /// With OAuth2 (``Account/oauth2``) the token is had first (from the cache
    /// or the endpoint); an endpoint that cannot be reached or refuses is a
    /// temporary failure naming the endpoint or the OAuth error (`relay` nil),
    /// a secret file that cannot be read a local one.
    package func open() throws(RelayFailure) -> RelaySession {
        var lastFailure = RelayFailure(.noRelay, message: "no relay configured", relay: nil)
        for relay in [account.relay] + account.fallbacks {
            do {
                return try open(relay)
            } catch {
                if error.isLocal { throw error }
                lastFailure = error
            }
        }
        throw lastFailure
    }

    /// The TLS settings for a connection to `host`.
    package func tlsConfiguration(host: String) -> TLSConfiguration {
        // An address literal is passed too: TLSStream then checks it against
        // the certificate's IP names (and sends no SNI for it).
        var configuration = TLSConfiguration(serverName: host)
        configuration.verify = account.tlsVerify
        configuration.trustFile = account.tlsTrustFile.flatMap { $0.isEmpty ? nil : $0 }
        configuration.fingerprint = account.tlsFingerprint.flatMap { $0.isEmpty ? nil : $0 }
        configuration.certificateFile = account.tlsCertificateFile.flatMap { $0.isEmpty ? nil : $0 }
        configuration.keyFile = account.tlsKeyFile.flatMap { $0.isEmpty ? nil : $0 }
        configuration.minimumVersion = account.tlsMinimumVersion == .tls13 ? .tls13 : .tls12
        return configuration
    }

    /// Opens a session to one relay.
    ///
    /// With OAuth2 the token is had first, before any connection (see ``open()``).
    package func open(_ relay: Relay) throws(RelayFailure) -> RelaySession {
        if account.oauth2 != nil && account.authentication != .off && oauth.token == nil {
            oauth.token = try oauthToken(refresh: freshToken)
        }
        let timeout = Double(account.timeout)
        let stream: TCPStream
        do {
            let address = try ServerAddress(host: relay.host, port: UInt16(relay.port))
            // Before a byte is read or sent: a foreign listener gets nothing,
            // and the host's next address is tried.
            let owner = account.relayOwner
            stream = try TCPStream.connect(to: address, timeout: timeout) { stream in
                RelayIdentity.refusal(for: stream, owner: owner)
            }
        } catch let error as TransportError {
            throw RelayFailure(.connect, message: error.description, relay: nil, transport: error)
        } catch {
            throw RelayFailure(.connect, message: "\(error)", relay: nil)
        }
        let peer = stream.peerDescription
        var session: SMTPSession? = nil
        do {
            var connection: any ByteStream = stream
            if account.tls == .implicit {
                connection = try TLSStream(wrapping: stream, configuration: tlsConfiguration(host: relay.host))
            }
            let opened = SMTPSession(stream: connection, trace: trace)
            session = opened
            _ = try opened.readGreeting()
            _ = try opened.ehlo(account.domain)
            if account.tls == .startTLS {
                guard opened.extensions.startTLS else {
                    throw RelayFailure(
                        .noSTARTTLS,
                        message: "\(peer) does not offer STARTTLS (tls starttls is set; nothing was sent in clear)",
                        relay: peer)
                }
                _ = try opened.startTLS(configuration: tlsConfiguration(host: relay.host))
            }
            try authenticate(opened, peer: peer)
            let result = RelaySession(session: opened, relay: peer, configured: relay)
            if let token = oauth.token { result.oauth2Token = (token.expiresAt, token.fromCache) }
            return result
        } catch let failure as RelayFailure {
            session?.close()
            stream.close()
            throw failure
        } catch let error as SMTPError {
            session?.close()
            stream.close()
            throw RelayFailure(
                .smtp, message: PostfixWording.reason(for: error, relay: peer), relay: peer, underlying: error)
        } catch let error as TransportError {
            session?.close()
            stream.close()
            throw RelayFailure(.connect, message: "\(peer): \(error)", relay: peer, transport: error)
        } catch {
            session?.close()
            stream.close()
            throw RelayFailure(.other, message: "\(peer): \(error)", relay: peer)
        }
    }

    private func authenticate(_ session: SMTPSession, peer: String) throws {
        let mechanism: SASLMechanism
        switch account.authentication {
        case .off:
            return
        case .automatic:
            guard let chosen = SASLMechanism.strongest(offeredBy: session.extensions.authMechanisms) else {
                let offered = session.extensions.authMechanisms
                let hint =
                    offered.isEmpty && !session.isEncrypted
                    ? " (it may offer AUTH only after STARTTLS: set tls starttls)" : ""
                throw RelayFailure(
                    .noUsableMechanism,
                    message:
                        "\(peer) offers no AUTH mechanism apus can use (offered: \(offered.isEmpty ? "none" : offered.joined(separator: " ")))\(hint)",
                    relay: peer)
            }
            mechanism = chosen
        case .mechanism(let configured):
            guard let chosen = SASLMechanism(name: configured.rawValue) else {
                throw RelayFailure(
                    .unknownMechanism, message: "unknown AUTH mechanism \(configured.rawValue)", relay: peer)
            }
            mechanism = chosen
        }
        // security.md "Secrets": no AUTH of any mechanism in clear, except to a
        // loopback relay (on a privileged port, or one that passed the owner check).
        if !session.isEncrypted && !session.connection.stream.isLoopback {
            throw RelayFailure(
                .authInClear,
                message: "\(peer): refusing AUTH over an unencrypted connection (set tls starttls or tls on)",
                relay: peer)
        }
        guard let user = account.user else {
            throw RelayFailure(.noUser, message: "auth is on but no user is configured", relay: peer)
        }
        if account.oauth2 != nil && mechanism.usesToken {
            try authenticateWithToken(session, mechanism: mechanism, user: user)
            return
        }
        let secret: String
        do {
            guard let found = try account.retrievePassword(timeout: Double(account.timeout)) else {
                throw RelayFailure(
                    .noPassword, message: "auth is on but no password, passwordeval or password_file is set",
                    relay: peer)
            }
            secret = found
        } catch let failure as RelayFailure {
            throw failure
        } catch {
            throw RelayFailure(
                .passwordUnavailable, message: "cannot get the password: \(error)", relay: peer, isLocal: true)
        }
        let client = try mechanism.client(
            user: user, secret: secret, host: account.relay.host, port: account.relay.port)
        _ = try session.authenticate(client)
    }

    /// The OAuth2 client for this account.
    private func oauthClient(_ settings: OAuth2Settings) -> OAuth2Client {
        let trace = self.trace
        return OAuth2Client(
            settings: settings, user: account.user ?? "", trustFile: account.tlsTrustFile,
            timeout: Double(account.timeout), cacheDirectory: tokenCacheDirectory, cacheGroup: tokenCacheGroup,
            note: trace.map { trace in { @Sendable text in trace.record(.note, text) } },
            readClientSecret: { [timeout = Double(account.timeout)] in
                try settings.clientSecret.retrieve(timeout: timeout)
            })
    }

    /// A token for the account, as a ``RelayFailure`` when none can be had.
    private func oauthToken(refresh: Bool, refused: String? = nil) throws(RelayFailure) -> OAuth2Token {
        guard let settings = account.oauth2 else {
            throw RelayFailure(.oauth2, message: "no OAuth2 settings", relay: nil, isLocal: true)
        }
        do {
            return try oauthClient(settings).token(refresh: refresh, refused: refused)
        } catch {
            throw RelayFailure(.oauth2, message: error.message, relay: nil, isLocal: error.isLocal, oauth2: error)
        }
    }

    /// AUTH with the account's OAuth2 token; when the server refuses it (535
    /// after XOAUTH2's or OAUTHBEARER's JSON challenge), one fresh token from
    /// the endpoint and one more AUTH on the same session.
    private func authenticateWithToken(_ session: SMTPSession, mechanism: SASLMechanism, user: String) throws {
        let token: OAuth2Token
        if let current = oauth.token { token = current } else { token = try oauthToken(refresh: false) }
        oauth.token = token
        let host = account.relay.host
        let port = account.relay.port
        do {
            _ = try session.authenticate(
                try mechanism.client(user: user, secret: token.accessToken, host: host, port: port))
        } catch let error as SMTPError where error.kind == .authenticationFailed && !oauth.refreshed {
            oauth.refreshed = true
            trace?.record(.note, "oauth2: the server refused the token; getting a new one and trying AUTH once more")
            let fresh = try oauthToken(refresh: true, refused: token.accessToken)
            oauth.token = fresh
            _ = try session.authenticate(
                try mechanism.client(user: user, secret: fresh.accessToken, host: host, port: port))
        }
    }
}

/// The token a ``RelayConnector`` uses, shared by its sessions (a class, so
/// the connector stays a value that `open()` can be called on).
private final class OAuthState {
    var token: OAuth2Token?
    var refreshed = false
}
