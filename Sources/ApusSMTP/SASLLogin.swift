/// SASL LOGIN (draft-murchison-sasl-login): the user name, then the password,
/// each as the answer to a server prompt ("Username:", "Password:").
///
/// Sends the password itself, so the session uses it only over TLS or to loopback.
public struct SASLLogin: SASLClient, CustomStringConvertible, CustomReflectable {
    /// "LOGIN".
    public var mechanism: String { "LOGIN" }
    /// True: the password crosses the wire.
    public var sendsSecretInClear: Bool { true }

    private let user: String
    private let password: String
    private var step = 0

    /// An exchange for `user` with `password`.
    ///
    /// - Throws: ``SASLError`` when either contains NUL.
    public init(user: String, password: String) throws {
        try SASLText.checkNoNUL(user, "user name", "LOGIN")
        try SASLText.checkNoNUL(password, "password", "LOGIN")
        self.user = user
        self.password = password
    }

    /// None: LOGIN waits for the server's first prompt.
    public mutating func initialResponse() throws -> [UInt8]? { nil }

    /// The user name for the first prompt, the password for the second. A
    /// prompt that says "password" first (case-insensitive) gets the password.
    public mutating func respond(to challenge: [UInt8]) throws -> [UInt8] {
        step += 1
        let prompt = String(decoding: challenge, as: UTF8.self).lowercased()
        switch step {
        case 1 where prompt.contains("password"):
            step = 2
            return Array(password.utf8)
        case 1:
            return Array(user.utf8)
        case 2:
            return Array(password.utf8)
        default:
            throw SASLError("unexpected third LOGIN prompt from the server")
        }
    }

    /// "LOGIN as alice" (never the password).
    public var description: String { "LOGIN as \(user)" }
    /// Shows the mechanism and user only.
    public var customMirror: Mirror { Mirror(self, children: ["mechanism": mechanism, "user": user]) }
}
