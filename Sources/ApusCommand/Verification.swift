import ApusConfig
import ApusDelivery
import ApusSMTP
import ApusTransport

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
        if let problem = DeliveryLog(destination: Submission.logDestination(configuration.host.log)).problem() {
            ApusCommand.printError("apus: warning: \(problem) (delivery goes on)\n")
        }
        let relay: RelaySession
        do {
            relay = try RelayConnector(account: account, trace: trace).open()
        } catch {
            var details: [String] = []
            if let hint = diagnose(error, account: account) { details.append("hint: \(hint)") }
            throw CommandFailure(.unavailable, "relay not usable: \(error.message)", details: details)
        }
        defer { relay.close() }
        say("connected: \(relay.relay)")
        if let tls = relay.session.connection.stream.tlsSession {
            say("tls: \(tls.protocolVersion) \(tls.cipher); certificate \(tls.peerSubject)")
            if !tls.peerNames.isEmpty { say("certificate names: \(tls.peerNames.joined(separator: " "))") }
            say("certificate sha256: \(tls.peerFingerprint.map { hex($0) }.joined(separator: ":"))")
            say("verified: \(tls.verified ? "yes" : "no")")
        } else {
            say("tls: none (plain text)")
        }
        if case .off = account.authentication {
            say("auth: not used")
        } else {
            say("auth: accepted for \(account.user ?? "")")
        }
        say("server offers:")
        for line in relay.session.ehloLines.dropFirst() { say("  \(line)") }
        return .ok
    }

    func authText(_ account: Account) -> String {
        switch account.authentication {
        case .off: return "off"
        case .automatic: return "on (user \(account.user ?? "?"))"
        case .mechanism(let m): return "\(m.rawValue) (user \(account.user ?? "?"))"
        }
    }

    func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }

    /// Names the setting to change, probing the relay with short timeouts.
    func diagnose(_ failure: RelayFailure, account: Account) -> String? {
        let relay = account.relay
        let text = failure.message
        if text.contains("offers no AUTH mechanism") && account.tls == .off {
            return "the relay offers AUTH only after STARTTLS: set tls starttls"
        }
        if let tlsFailure = failure.underlying?.underlying, case .tls(let detail) = tlsFailure,
            detail.kind == .nameMismatch
        {
            return "the certificate does not name \(relay.host): set host to a name it carries, or pin it with tls_fingerprint"
        }
        if text.contains("name mismatch") || text.contains("does not name") {
            return "the certificate does not name \(relay.host): set host to a name it carries, or pin it with tls_fingerprint"
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
            let stream = try? TCPStream.connect(to: address, timeout: 3)
        else { return nil }
        defer { stream.close() }
        var buffer = [UInt8](repeating: 0, count: 512)
        guard let n = try? buffer.withUnsafeMutableBytes({ try stream.read(into: $0) }), n > 0 else { return nil }
        return String(decoding: buffer[0..<n].prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
    }

    /// Whether a relay stays silent on a plain connection but completes a TLS handshake.
    func speaksTLSRightAway(_ relay: Relay) -> Bool {
        guard let address = try? ServerAddress(host: relay.host, port: UInt16(relay.port)),
            let stream = try? TCPStream.connect(to: address, timeout: 3)
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
