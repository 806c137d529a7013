/// SASL PLAIN (RFC 4616): `authzid NUL authcid NUL passwd` as the initial response.
///
/// Sends the password itself, so the session uses it only over TLS or to loopback.
public struct SASLPlain: SASLClient, CustomStringConvertible, CustomReflectable {
    /// "PLAIN".
    public var mechanism: String { "PLAIN" }
    /// True: the password crosses the wire.
    public var sendsSecretInClear: Bool { true }

    private let user: String
    private let password: String
    private let authorizationIdentity: String
    private var sent = false

    /// An exchange for `user` with `password`, optionally acting as `authorizationIdentity`.
    ///
    /// - Throws: ``SASLError`` when a field contains NUL.
    public init(user: String, password: String, authorizationIdentity: String = "") throws {
        try SASLText.checkNoNUL(user, "user name", "PLAIN")
        try SASLText.checkNoNUL(password, "password", "PLAIN")
        try SASLText.checkNoNUL(authorizationIdentity, "authorization identity", "PLAIN")
        self.user = user
        self.password = password
        self.authorizationIdentity = authorizationIdentity
    }

    private var message: [UInt8] {
        Array(authorizationIdentity.utf8) + [0] + Array(user.utf8) + [0] + Array(password.utf8)
    }

    /// The whole message, sent with the AUTH command.
    public mutating func initialResponse() throws -> [UInt8]? {
        sent = true
        return message
    }

    /// A server that ignored the initial response asks with an empty
    /// challenge: the message once more. Anything else is refused.
    public mutating func respond(to challenge: [UInt8]) throws -> [UInt8] {
        guard challenge.isEmpty, sent else { throw SASLError("unexpected PLAIN challenge from the server") }
        sent = false  // answer at most once more
        return message
    }

    /// "PLAIN as alice" (never the password).
    public var description: String { "PLAIN as \(user)" }
    /// Shows the mechanism and user only.
    public var customMirror: Mirror { Mirror(self, children: ["mechanism": mechanism, "user": user]) }
}
