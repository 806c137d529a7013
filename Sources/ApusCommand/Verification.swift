import ApusBase
import ApusConfig
import ApusDelivery
import ApusSMTP
import ApusTransport
import Glibc

/// `-bv`: checks the configuration and the relay — connect, TLS and AUTH as
/// configured — prints what the server offers, and sends nothing. When it
/// fails and the relay's behaviour points at a wrong setting, it says which
/// one to change: implicit TLS on a STARTTLS port or the reverse, AUTH offered
/// only after STARTTLS, a certificate that names other hosts.
///
/// Exit 0 when the relay is usable, 69 when it is not (with the reason and,
/// where one is found, the hint), 78 for configuration errors.
struct Verification {
    var configuration: Configuration
    var invocation: Invocation
    var trace: SMTPTrace?

    func say(_ text: String) { ApusCommand.printOut(text + "\n") }

    func run() throws -> ExitStatus {
        let account = configuration.account(forSender: invocation.sender)
        let relays = ([account.relay] + account.fallbacks).map(\.description).joined(separator: ", then ")
        say("configuration: \(configuration.file ?? "(built-in defaults)")")
        say("account: \(account.name); relay \(relays); tls \(account.tls.rawValue); auth \(authText(account))")
        if !account.tlsVerify { say("warning: tls_verify is off: the relay's certificate is not checked") }
        if !Self.isFullyQualified(account.domain) {
            say(
                "warning: domain \(account.domain) is not fully qualified: relays refuse senders like root@\(account.domain); set domain to a name with a dot (e.g. the host's DNS name)"
            )
        }
        // A port that keeps silent where a greeting is due may want implicit
        // TLS: find out in a few seconds rather than after the whole timeout.
        if account.tls != .implicit, Self.probeSeconds < Double(account.timeout), plainBanner(account.relay) == nil,
            speaksTLSRightAway(account.relay)
        {
            throw CommandFailure(
                .relayUnusable,
                "relay not usable: \(account.relay) sent no greeting within \(Int(Self.probeSeconds)) seconds",
                details: ["hint: \(account.relay) expects TLS at once (implicit TLS, RFC 8314): set tls on"])
        }
        if let problem = DeliveryLog(destination: Submission.logDestination(configuration.host.log)).problem() {
            ApusCommand.printError("apus: warning: \(problem) (delivery goes on)\n")
        }
        let relay: RelaySession
        do {
            var connector = RelayConnector(
                account: account, trace: trace, tokenCacheDirectory: configuration.host.queueDirectory,
                tokenCacheGroup: ApusCommand.queueGroup)
            connector.freshToken = true
            relay = try connector.open()
        } catch {
            var details: [String] = []
            if let hint = diagnose(error, account: account) { details.append("hint: \(hint)") }
            throw CommandFailure(.relayUnusable, "relay not usable: \(error.message)", details: details)
        }
        defer { relay.close() }
        say("connected: \(relay.relay)")
        if let tls = relay.session.connection.stream.tlsSession {
            say("tls: \(tls.protocolVersion) \(tls.cipher); certificate \(tls.peerSubject)")
            if !tls.peerNames.isEmpty { say("certificate names: \(tls.peerNames.joined(separator: " "))") }
            say("certificate sha256: \(Hex.string(tls.peerFingerprint, separator: UInt8(ascii: ":")))")
            say("verified: \(tls.verified ? "yes" : "no")")
        } else {
            say("tls: none (plain text)")
        }
        if let oauth2 = account.oauth2, let token = relay.oauth2Token {
            say(
                "oauth2: token from \(oauth2.tokenURL) (grant \(oauth2.grant.rawValue)), expires \(utcTime(token.expiresAt))"
            )
        }
        if case .off = account.authentication {
            say("auth: not used")
        } else {
            say("auth: accepted for \(account.user ?? "")")
        }
        say("server offers:")
        // A bare "250 " line adds nothing to the list.
        for line in relay.session.ehloLines.dropFirst() where !line.allSatisfy(\.isWhitespace) { say("  \(line)") }
        return .ok
    }

    /// How long the probes wait for a greeting or a TLS handshake.
    static let probeSeconds = 3.0

    /// Whether `domain` has a dot between non-empty labels (or is an address literal).
    static func isFullyQualified(_ domain: String) -> Bool {
        if domain.hasPrefix("[") { return true }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty }
    }

    func authText(_ account: Account) -> String {
        switch account.authentication {
        case .off: return "off"
        case .automatic: return "on (user \(account.user ?? "?"))"
        case .mechanism(let m): return "\(m.rawValue) (user \(account.user ?? "?"))"
        }
    }

    /// "2026-12-05 10:00:00 UTC". The C function is `gmtime_r`.
    func utcTime(_ seconds: Int64) -> String {
        var clock = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&clock, &parts) != nil else { return "at \(seconds)" }
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }

    /// Names the setting to change, probing the relay with short timeouts.
    func diagnose(_ failure: RelayFailure, account: Account) -> String? {
        let relay = account.relay
        if let oauth2 = account.oauth2, let oauthFailure = failure.oauth2, !oauthFailure.isLocal {
            let code = oauthFailure.oauthError
            if code == "invalid_client" || code == "unauthorized_client" {
                return "the endpoint does not accept the client: check oauth2_client_id and its secret or key"
            }
            if code == "invalid_grant" {
                switch oauth2.grant {
                case .refreshToken:
                    return "the refresh token is no longer valid: put a new one in oauth2_refresh_token_file"
                case .jwtBearer:
                    return
                        "the assertion was refused: check oauth2_private_key_file, oauth2_client_id and oauth2_subject (domain-wide delegation)"
                case .clientCredentials: return "the grant was refused: check oauth2_client_id and its secret"
                }
            }
            if code == "invalid_scope" { return "check oauth2_scope" }
            if code != nil { return "the token endpoint refused the request: check the oauth2_ settings" }
            return
                "check oauth2_token_url and that the endpoint is reachable (its certificate is verified; tls_trust_file applies)"
        }
        if failure.kind == .noUsableMechanism && account.tls == .off {
            return "the relay offers AUTH only after STARTTLS: set tls starttls"
        }
        if let error = failure.underlying, error.kind == .authenticationFailed, error.reply?.code == 535 {
            return
                "the relay refused the credentials (535): check user (\(account.user ?? "not set")) and the password setting (\(account.password))"
        }
        if let tlsFailure = failure.transport, case .tls(let detail) = tlsFailure, detail.kind == .nameMismatch {
            return
                "the certificate does not name \(relay.host): set host to a name it carries, or pin it with tls_fingerprint"
        }
        switch account.tls {
        case .implicit:
            if let banner = plainBanner(relay), banner.hasPrefix("220") {
                return "\(relay) answers in plain text (\"\(banner.prefix(60))\"): it wants tls starttls, not tls on"
            }
        case .off, .startTLS:
            if speaksTLSRightAway(relay) {
                return "\(relay) expects TLS at once (implicit TLS, RFC 8314): set tls on"
            }
        }
        return nil
    }

    /// The first line a relay sends on a plain connection, if any within 3 s.
    func plainBanner(_ relay: Relay) -> String? {
        guard let address = try? ServerAddress(host: relay.host, port: UInt16(relay.port)),
            let stream = try? TCPStream.connect(to: address, timeout: Self.probeSeconds)
        else { return nil }
        defer { stream.close() }
        var buffer = [UInt8](repeating: 0, count: 512)
        guard let n = try? buffer.withUnsafeMutableBytes({ try stream.read(into: $0) }), n > 0 else { return nil }
        return String(decoding: buffer[0..<n].prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
    }

    /// Whether a relay stays silent on a plain connection but completes a TLS handshake.
    func speaksTLSRightAway(_ relay: Relay) -> Bool {
        guard let address = try? ServerAddress(host: relay.host, port: UInt16(relay.port)),
            let stream = try? TCPStream.connect(to: address, timeout: Self.probeSeconds)
        else { return false }
        var configuration = TLSConfiguration(serverName: relay.host)
        configuration.verify = false
        guard let tls = try? TLSStream(wrapping: stream, configuration: configuration) else {
            stream.close()
            return false
        }
        tls.close()
        return true
    }
}
