/// How the connection to a relay is protected (`tls`).
package enum TLSSetting: String, Equatable, Sendable, CaseIterable {
    /// Plain SMTP (`tls off`).
    case off
    /// STARTTLS, failing closed when the server does not offer it (`tls starttls`).
    case startTLS = "starttls"
    /// Implicit TLS from the first byte, RFC 8314 (`tls on`).
    case implicit = "on"

    /// The port used when `port` is not set: 25, 587 or 465.
    package var defaultPort: Int {
        switch self {
        case .off: 25
        case .startTLS: 587
        case .implicit: 465
        }
    }
}

/// The lowest TLS protocol version accepted (`tls_min_version`).
package enum TLSMinimumVersion: String, Equatable, Sendable, CaseIterable {
    /// TLS 1.2 (`1.2`, the default).
    case tls12 = "1.2"
    /// TLS 1.3 (`1.3`).
    case tls13 = "1.3"
}

/// A SASL mechanism that `auth` may name.
package enum AuthMechanism: String, Equatable, Sendable, CaseIterable {
    /// PLAIN (RFC 4616).
    case plain
    /// LOGIN (draft-murchison-sasl-login).
    case login
    /// CRAM-MD5 (RFC 2195).
    case cramMD5 = "cram-md5"
    /// SCRAM-SHA-256 (RFC 7677).
    case scramSHA256 = "scram-sha-256"
    /// XOAUTH2 (Google's and Microsoft's bearer token mechanism).
    case xoauth2
    /// OAUTHBEARER (RFC 7628).
    case oauthBearer = "oauthbearer"

    /// The name as sent in `AUTH`, upper case: `PLAIN`, `CRAM-MD5`.
    package var smtpName: String { rawValue.uppercased() }
}

/// Whether and how to authenticate (`auth`).
package enum Authentication: Equatable, Sendable {
    /// No AUTH (`auth off`).
    case off
    /// The strongest mechanism both sides support (`auth on`).
    case automatic
    /// Exactly this mechanism (`auth plain`, `auth xoauth2`, …).
    case mechanism(AuthMechanism)
}

/// What to do with the message's From: field (`from_header`).
package enum FromHeaderPolicy: String, Equatable, Sendable, CaseIterable {
    /// Leave the header alone, even when From: is missing.
    case keep
    /// Add From: when it is missing (the default).
    case add
    /// Replace any From: with the envelope sender.
    case override
}

/// What to do with an 8-bit body for a server without 8BITMIME (`eight_bit`).
package enum EightBitPolicy: String, Equatable, Sendable, CaseIterable {
    /// Send it as it is.
    case pass
    /// Re-encode it as quoted-printable (the default).
    case convert
}

/// Where the delivery log goes (`log`).
package enum LogTarget: Equatable, Sendable {
    /// syslog, facility mail (the default).
    case syslog
    /// Appended to this file (an absolute path).
    case file(String)
    /// Nowhere.
    case off
}

/// When the relay should send delivery status notifications (`dsn_notify`, as `-N`).
///
/// An empty set means `NEVER`.
package struct DSNNotifySetting: OptionSet, Equatable, Sendable, Hashable {
    /// The bits.
    package var rawValue: UInt8
    /// Creates a set from its bits.
    package init(rawValue: UInt8) { self.rawValue = rawValue }
    /// `SUCCESS`.
    package static let success = DSNNotifySetting(rawValue: 1)
    /// `FAILURE`.
    package static let failure = DSNNotifySetting(rawValue: 2)
    /// `DELAY`.
    package static let delay = DSNNotifySetting(rawValue: 4)
    /// `NEVER`: the empty set.
    package static let never: DSNNotifySetting = []

    /// The `NOTIFY=` parameter value: `NEVER`, or `SUCCESS,FAILURE,DELAY` in that order.
    package var parameterValue: String {
        if isEmpty { return "NEVER" }
        var words: [String] = []
        if contains(.success) { words.append("SUCCESS") }
        if contains(.failure) { words.append("FAILURE") }
        if contains(.delay) { words.append("DELAY") }
        return words.joined(separator: ",")
    }
}

/// How much of the message a failure notice should return (`dsn_return`, as `-R`).
package enum DSNReturnSetting: String, Equatable, Sendable, CaseIterable {
    /// The whole message (`full`, `RET=FULL`).
    case full
    /// The headers only (`hdrs`, `RET=HDRS`).
    case headers = "hdrs"

    /// The `RET=` parameter value: `FULL` or `HDRS`.
    package var parameterValue: String { rawValue.uppercased() }
}

/// A relay to connect to: a host name or address, and a port.
package struct Relay: Equatable, Sendable, Hashable, CustomStringConvertible {
    /// A host name, an IPv4 address, or an IPv6 address without its brackets.
    package var host: String
    /// The TCP port, 1–65535.
    package var port: Int

    /// Creates a relay.
    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Whether ``host`` is `localhost` (or a name under `.localhost`) or a
    /// loopback address (`127.0.0.0/8`, `::1`): the hosts for which `tls`
    /// defaults to `off`.
    package var isLoopback: Bool { isLoopbackHost(host) }

    /// `host:port`, with an IPv6 address in brackets: `[::1]:25`.
    package var description: String {
        host.containsByte(0x3A) ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// See ``Relay/isLoopback``.
func isLoopbackHost(_ host: String) -> Bool {
    let name = host.lowercased()
    if name == "localhost" || name == "localhost." || name.hasSuffix(".localhost") || name.hasSuffix(".localhost.") {
        return true
    }
    if name == "::1" || name == "0:0:0:0:0:0:0:1" { return true }
    let parts = name.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
}
