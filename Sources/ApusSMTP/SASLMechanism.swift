import ApusBase

/// The SASL mechanisms apus speaks, by their IANA names, and the choice
/// `auth on` makes among them.
///
/// ```
/// let client = try SASLMechanism.client(
///     for: "on", offered: session.extensions.authMechanisms, user: "alice", secret: password)
/// try session.authenticate(client)
/// ```
public enum SASLMechanism: String, CaseIterable, Sendable {
    /// SCRAM-SHA-256 (RFC 5802, RFC 7677): the password never crosses the wire
    /// and the server proves it knows it too.
    case scramSHA256 = "SCRAM-SHA-256"
    /// CRAM-MD5 (RFC 2195): a keyed digest of the server's challenge.
    case cramMD5 = "CRAM-MD5"
    /// PLAIN (RFC 4616): user and password in one message.
    case plain = "PLAIN"
    /// LOGIN (the common draft): user and password in two answers.
    case login = "LOGIN"
    /// XOAUTH2 (Google, Microsoft): an OAuth 2.0 bearer token.
    case xoauth2 = "XOAUTH2"
    /// OAUTHBEARER (RFC 7628): an OAuth 2.0 bearer token.
    case oauthBearer = "OAUTHBEARER"

    /// The mechanisms `auth on` may pick, strongest first. The OAuth
    /// mechanisms are left out: they need a token, so only a configuration
    /// that names them uses them.
    public static let automaticPreference: [SASLMechanism] = [.scramSHA256, .cramMD5, .plain, .login]

    /// The mechanism named `name`, case-insensitively (`"cram-md5"` in apus.conf,
    /// `"CRAM-MD5"` in EHLO); nil for a mechanism apus does not implement.
    public init?(name: String) {
        self.init(rawValue: name.uppercased())
    }

    /// The IANA name, upper case.
    public var name: String { rawValue }

    /// Whether a listener could reuse what the mechanism sends (the secret
    /// itself or a bearer token): such mechanisms go only over TLS or to loopback.
    public var sendsSecretInClear: Bool {
        switch self {
        case .plain, .login, .xoauth2, .oauthBearer: return true
        case .scramSHA256, .cramMD5: return false
        }
    }

    /// Whether the secret is an OAuth 2.0 access token rather than a password.
    public var usesToken: Bool { self == .xoauth2 || self == .oauthBearer }

    /// The strongest mechanism of ``automaticPreference`` that the server offers
    /// (`offered`: the EHLO AUTH list, any case), or nil when there is none.
    public static func strongest(offeredBy offered: [String]) -> SASLMechanism? {
        let names = Set(offered.map { $0.uppercased() })
        return automaticPreference.first { names.contains($0.rawValue) }
    }

    /// A fresh client exchange for this mechanism.
    ///
    /// - Parameters:
    ///   - user: the authentication identity (for OAuth: the account's address).
    ///   - secret: the password, or for ``xoauth2`` / ``oauthBearer`` the access token.
    ///   - host: for ``oauthBearer``, the server's host name (optional `host=` field).
    ///   - port: for ``oauthBearer``, the server's port (optional `port=` field).
    /// - Throws: ``SASLError`` when `user` or `secret` cannot be sent with this
    ///   mechanism (a NUL in PLAIN, a non-ASCII password for SCRAM); the message
    ///   never contains the secret.
    public func client(user: String, secret: String, host: String? = nil, port: Int? = nil) throws -> any SASLClient {
        switch self {
        case .plain: return try SASLPlain(user: user, password: secret)
        case .login: return try SASLLogin(user: user, password: secret)
        case .cramMD5: return try SASLCramMD5(user: user, password: secret)
        case .scramSHA256: return try SASLScramSHA256(user: user, password: secret)
        case .xoauth2: return try SASLXOAuth2(user: user, token: secret)
        case .oauthBearer: return try SASLOAuthBearer(user: user, token: secret, host: host, port: port)
        }
    }

    /// The exchange for an `auth` setting: `"on"` picks the strongest mechanism
    /// both sides support, any other value names one mechanism.
    ///
    /// - Parameters:
    ///   - setting: `"on"` or a mechanism name (any case).
    ///   - offered: the server's EHLO AUTH list.
    ///   - user: the authentication identity.
    ///   - secret: the password or token.
    /// - Throws: ``SASLError`` for an unknown mechanism name, when `"on"` finds
    ///   no common mechanism (the message lists the server's), or as
    ///   ``client(user:secret:host:port:)``.
    public static func client(
        for setting: String, offered: [String], user: String, secret: String, host: String? = nil, port: Int? = nil
    ) throws -> any SASLClient {
        if setting.lowercased() == "on" {
            guard let mechanism = strongest(offeredBy: offered) else {
                let list = offered.isEmpty ? "none" : offered.joined(separator: " ")
                throw SASLError(
                    "the server offers no AUTH mechanism apus uses with a password "
                        + "(server: \(list); apus: SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN)")
            }
            return try mechanism.client(user: user, secret: secret, host: host, port: port)
        }
        guard let mechanism = SASLMechanism(name: setting) else {
            throw SASLError(
                "unknown AUTH mechanism \(setting) (apus knows \(allCases.map(\.name).joined(separator: " ")))")
        }
        return try mechanism.client(user: user, secret: secret, host: host, port: port)
    }
}

/// Checks shared by the mechanisms.
enum SASLText {
    /// Throws when `text` (named `what`, never shown) holds a NUL, which every
    /// mechanism uses as a separator or forbids.
    static func checkNoNUL(_ text: String, _ what: String, _ mechanism: String) throws {
        if text.utf8.contains(0) { throw SASLError("the \(what) contains a NUL byte, which \(mechanism) cannot send") }
    }

    /// Lower-case hexadecimal.
    static func hex(_ bytes: [UInt8]) -> String {
        Hex.string(bytes, uppercase: false)
    }
}
