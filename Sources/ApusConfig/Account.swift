import ApusBase

/// One account with every setting in effect: its own lines, what it inherited
/// from the defaults, and the defaults of config.md for the rest.
///
/// Built by ``Configuration``; a plain value the delivery code reads. Its
/// ``description`` never shows the password (see ``PasswordSource``).
package struct Account: Equatable, Sendable {
    /// The account's name (`account NAME`); `default` for the account made from
    /// the defaults alone, or the built-in one when there is no file.
    package var name: String
    /// The line of its `account` line, 0 when it has none.
    package var line: Int
    /// The relay (`host`, default `localhost`; `port`, default by ``tls``: 25, 587, 465).
    package var relay: Relay
    /// Further relays, tried in order after a temporary failure (`fallback`);
    /// a fallback written without a port uses ``relay``'s port.
    package var fallbacks: [Relay]
    /// `tls`: default `off` when the host is loopback (``Relay/isLoopback``), else `starttls`.
    package var tls: TLSSetting
    /// `tls_verify`: verify the chain and host name (default true).
    package var tlsVerify: Bool
    /// `tls_trust_file`: a CA bundle instead of the system store, or `nil`.
    package var tlsTrustFile: String?
    /// `tls_fingerprint`: the pinned SHA-256 of the server certificate (32 bytes), or `nil`.
    package var tlsFingerprint: [UInt8]?
    /// `tls_cert_file`: the client certificate, or `nil`.
    package var tlsCertificateFile: String?
    /// `tls_key_file`: its private key; the certificate file itself when only
    /// `tls_cert_file` is given (a PEM file holding both).
    package var tlsKeyFile: String?
    /// `tls_min_version` (default 1.2).
    package var tlsMinimumVersion: TLSMinimumVersion
    /// `auth`: default ``Authentication/automatic`` when ``user`` is set, else ``Authentication/off``.
    package var authentication: Authentication
    /// `user`, or `nil`.
    package var user: String?
    /// Where the password comes from (`password`, `password_file`, `passwordeval`);
    /// ApusDelivery's `retrievePassword(timeout:)` reads it.
    package var password: PasswordSource
    /// `from`: an address or a pattern, or `nil`.
    package var from: String?
    /// `domain`: the EHLO name and the domain for unqualified senders.
    package var domain: String
    /// `default_domain`: appended to unqualified recipients (default ``domain``).
    package var defaultDomain: String
    /// `aliases`: the aliases file, or `nil`.
    package var aliasesFile: String?
    /// `from_header` (default ``FromHeaderPolicy/add``).
    package var fromHeader: FromHeaderPolicy
    /// `allow_from_override` (default true).
    package var allowFromOverride: Bool
    /// `timeout`: seconds for each whole reply and each write (default 60).
    package var timeout: Int
    /// `relay_owner`: who besides root may own the listening socket of a
    /// loopback relay on an unprivileged port (default root alone).
    package var relayOwner: RelayOwner = .root
    /// `dsn_notify`: default for `-N`, or `nil`.
    package var dsnNotify: DSNNotifySetting?
    /// `dsn_return`: default for `-R`, or `nil`.
    package var dsnReturn: DSNReturnSetting?
    /// `eight_bit` (default ``EightBitPolicy/convert``).
    package var eightBit: EightBitPolicy
    /// `message_size_limit`: the largest message accepted, in octets; 0 = no limit (default 256 MiB).
    package var messageSizeLimit: Int
    /// `recipient_limit`: the most recipients one message may have; 0 = no limit (default 1000).
    package var recipientLimit: Int

    /// The default `message_size_limit`: 256 MiB.
    package static let defaultMessageSizeLimit = 256 << 20
    /// The default `recipient_limit`.
    package static let defaultRecipientLimit = 1000

    /// The `oauth2_*` settings when `oauth2_token_url` is set: the token for
    /// XOAUTH2/OAUTHBEARER comes from that endpoint instead of ``password``.
    package var oauth2: OAuth2Settings? = nil

    /// Whether ``from`` is a pattern (holds `*` or `?`) rather than an address.
    package var fromIsPattern: Bool {
        guard let from else { return false }
        return from.containsByte(0x2A) || from.containsByte(0x3F)
    }

    /// The envelope sender this account gives when no `-f` is given: ``from``
    /// when it is an address, `nil` when it is a pattern or unset.
    package var senderAddress: String? { fromIsPattern ? nil : from }

    /// Whether ``from`` matches `sender` (see ``WildcardPattern``); false when
    /// the account has no `from` or the sender is empty (`<>`).
    package func matches(sender: String) -> Bool {
        guard let from else { return false }
        let address = sender.strippingAngleBrackets()
        if address.isEmpty { return false }
        return WildcardPattern(from).matches(address)
    }
}

extension Account: CustomStringConvertible {
    /// Every setting as `key value` lines, in config.md's order, the password
    /// shown only as `password (set)`, `password_file PATH` or
    /// `passwordeval (set)`: safe for `-v`, `-bv` and logs.
    package var description: String {
        var lines = ["account \(name)", "host \(relay.host)", "port \(relay.port)"]
        for fallback in fallbacks { lines.append("fallback \(fallback)") }
        lines.append("tls \(tls.rawValue)")
        lines.append("tls_verify \(tlsVerify ? "on" : "off")")
        if let tlsTrustFile { lines.append("tls_trust_file \(tlsTrustFile)") }
        if let tlsFingerprint {
            lines.append("tls_fingerprint \(tlsFingerprint.map { hexPair($0) }.joined(separator: ":"))")
        }
        if let tlsCertificateFile { lines.append("tls_cert_file \(tlsCertificateFile)") }
        if let tlsKeyFile { lines.append("tls_key_file \(tlsKeyFile)") }
        lines.append("tls_min_version \(tlsMinimumVersion.rawValue)")
        switch authentication {
        case .off: lines.append("auth off")
        case .automatic: lines.append("auth on")
        case .mechanism(let mechanism): lines.append("auth \(mechanism.rawValue)")
        }
        if let user { lines.append("user \(user)") }
        lines.append(password.description)
        if let from { lines.append("from \(from)") }
        lines.append("domain \(domain)")
        lines.append("default_domain \(defaultDomain)")
        if let aliasesFile { lines.append("aliases \(aliasesFile)") }
        lines.append("from_header \(fromHeader.rawValue)")
        lines.append("allow_from_override \(allowFromOverride ? "on" : "off")")
        lines.append("timeout \(timeout)")
        if relayOwner != .root { lines.append("relay_owner \(relayOwner)") }
        if let dsnNotify { lines.append("dsn_notify \(dsnNotify.parameterValue.lowercased())") }
        if let dsnReturn { lines.append("dsn_return \(dsnReturn.rawValue)") }
        lines.append("eight_bit \(eightBit.rawValue)")
        lines.append("message_size_limit \(messageSizeLimit)")
        lines.append("recipient_limit \(recipientLimit)")
        if let oauth2 { lines += oauth2.descriptionLines }
        return lines.joined(separator: "\n")
    }
}

/// Two lower-case hex digits.
func hexPair(_ byte: UInt8) -> String {
    Hex.string([byte], uppercase: false)
}
