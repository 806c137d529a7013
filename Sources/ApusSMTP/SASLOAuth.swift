/// SASL XOAUTH2 (Google's and Microsoft's mechanism): an OAuth 2.0 access
/// token in `user=U ^A auth=Bearer T ^A ^A` as the initial response.
///
/// The token is a bearer credential, so the session sends it only over TLS or to loopback.
public struct SASLXOAuth2: SASLClient, CustomStringConvertible, CustomReflectable {
    /// "XOAUTH2".
    public var mechanism: String { "XOAUTH2" }
    /// True: the token is reusable by whoever sees it.
    public var sendsSecretInClear: Bool { true }

    private let user: String
    private let token: String
    private var failed = false

    /// An exchange for `user` (the account's address) with the access `token`.
    ///
    /// - Throws: ``SASLError`` when either holds a control character.
    public init(user: String, token: String) throws {
        try SASLOAuthText.check(user, "user name", "XOAUTH2")
        try SASLOAuthText.check(token, "token", "XOAUTH2")
        self.user = user
        self.token = token
    }

    /// `user=U ^A auth=Bearer T ^A ^A`.
    public mutating func initialResponse() throws -> [UInt8]? {
        Array("user=\(user)\u{1}auth=Bearer \(token)\u{1}\u{1}".utf8)
    }

    /// A challenge here is the server's JSON error; the protocol answers it
    /// with an empty response, after which the server sends its failure reply.
    public mutating func respond(to challenge: [UInt8]) throws -> [UInt8] {
        guard !failed else { throw SASLError("unexpected second XOAUTH2 challenge from the server") }
        failed = true
        return []
    }

    /// "XOAUTH2 as alice@example.com" (never the token).
    public var description: String { "XOAUTH2 as \(user)" }
    /// Shows the mechanism and user only.
    public var customMirror: Mirror { Mirror(self, children: ["mechanism": mechanism, "user": user]) }
}

/// SASL OAUTHBEARER (RFC 7628): a GS2 header naming the user, then
/// `host=`, `port=` and `auth=Bearer TOKEN` fields separated by ^A.
///
/// The token is a bearer credential, so the session sends it only over TLS or to loopback.
public struct SASLOAuthBearer: SASLClient, CustomStringConvertible, CustomReflectable {
    /// "OAUTHBEARER".
    public var mechanism: String { "OAUTHBEARER" }
    /// True: the token is reusable by whoever sees it.
    public var sendsSecretInClear: Bool { true }

    private let user: String
    private let token: String
    private let host: String?
    private let port: Int?
    private var failed = false

    /// An exchange for `user` with the access `token`, naming the server's
    /// `host` and `port` when given (RFC 7628 §3.1).
    ///
    /// - Throws: ``SASLError`` when a field holds a control character.
    public init(user: String, token: String, host: String? = nil, port: Int? = nil) throws {
        try SASLOAuthText.check(user, "user name", "OAUTHBEARER")
        try SASLOAuthText.check(token, "token", "OAUTHBEARER")
        if let host { try SASLOAuthText.check(host, "host name", "OAUTHBEARER") }
        self.user = user
        self.token = token
        self.host = host
        self.port = port
    }

    /// `n,a=USER,^Ahost=H^Aport=P^Aauth=Bearer T^A^A` (RFC 7628 §3.1; `=` and
    /// `,` in the user name escaped as `=3D` and `=2C`).
    public mutating func initialResponse() throws -> [UInt8]? {
        var text = "n,a=\(SASLScramSHA256.saslName(user)),\u{1}"
        if let host { text += "host=\(host)\u{1}" }
        if let port { text += "port=\(port)\u{1}" }
        text += "auth=Bearer \(token)\u{1}\u{1}"
        return Array(text.utf8)
    }

    /// A challenge is the server's JSON error (RFC 7628 §3.2.2); the client
    /// answers with a single ^A, after which the server sends its failure reply.
    public mutating func respond(to challenge: [UInt8]) throws -> [UInt8] {
        guard !failed else { throw SASLError("unexpected second OAUTHBEARER challenge from the server") }
        failed = true
        return [0x01]
    }

    /// "OAUTHBEARER as alice@example.com" (never the token).
    public var description: String { "OAUTHBEARER as \(user)" }
    /// Shows the mechanism and user only.
    public var customMirror: Mirror { Mirror(self, children: ["mechanism": mechanism, "user": user]) }
}

/// Field checks for the OAuth mechanisms, whose separators are control characters.
enum SASLOAuthText {
    /// Throws when `text` holds a control character (^A separates the fields).
    static func check(_ text: String, _ what: String, _ mechanism: String) throws {
        if text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw SASLError("the \(what) contains a control character, which \(mechanism) cannot send")
        }
    }
}
