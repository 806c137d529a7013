import ApusTransport

/// SASL CRAM-MD5 (RFC 2195): answers the server's challenge with
/// `user SP hex(HMAC-MD5(password, challenge))`.
///
/// The password does not cross the wire (though the digest is weak by today's
/// standards: SCRAM-SHA-256 is preferred when the server offers it).
public struct SASLCramMD5: SASLClient, CustomStringConvertible, CustomReflectable {
    /// "CRAM-MD5".
    public var mechanism: String { "CRAM-MD5" }
    /// False: only a keyed digest is sent.
    public var sendsSecretInClear: Bool { false }

    private let user: String
    private let password: String
    private var answered = false

    /// An exchange for `user` with `password`.
    ///
    /// - Throws: ``SASLError`` when either contains NUL.
    public init(user: String, password: String) throws {
        try SASLText.checkNoNUL(user, "user name", "CRAM-MD5")
        try SASLText.checkNoNUL(password, "password", "CRAM-MD5")
        self.user = user
        self.password = password
    }

    /// None: CRAM-MD5 waits for the server's challenge.
    public mutating func initialResponse() throws -> [UInt8]? { nil }

    /// `user SP` the lower-case hex HMAC-MD5 of the challenge keyed with the password.
    ///
    /// - Throws: ``SASLError`` for an empty or second challenge; OpenSSL's
    ///   absence as ``TransportError/tlsUnavailable(_:)``.
    public mutating func respond(to challenge: [UInt8]) throws -> [UInt8] {
        guard !answered else { throw SASLError("unexpected second CRAM-MD5 challenge from the server") }
        guard !challenge.isEmpty else { throw SASLError("empty CRAM-MD5 challenge from the server") }
        answered = true
        let digest = try Crypto.hmac(.md5, key: Array(password.utf8), data: challenge)
        return Array(user.utf8) + [UInt8(ascii: " ")] + Array(SASLText.hex(digest).utf8)
    }

    /// "CRAM-MD5 as alice" (never the password).
    public var description: String { "CRAM-MD5 as \(user)" }
    /// Shows the mechanism and user only.
    public var customMirror: Mirror { Mirror(self, children: ["mechanism": mechanism, "user": user]) }
}
