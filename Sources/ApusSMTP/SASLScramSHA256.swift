import ApusMessage
import ApusTransport

/// SASL SCRAM-SHA-256 (RFC 5802, RFC 7677), without channel binding (`n,,`).
///
/// ```
/// C: AUTH SCRAM-SHA-256 base64(n,,n=user,r=CNONCE)
/// S: 334 base64(r=CNONCE+SNONCE,s=SALT,i=4096)
/// C: base64(c=biws,r=CNONCE+SNONCE,p=PROOF)
/// S: 334 base64(v=SERVER-SIGNATURE)        or: 235 … with base64(v=…) as additional data
/// C: (empty line)
/// S: 235 2.7.0 Authentication successful
/// ```
///
/// The client proves it knows the password without sending it, and checks the
/// server's signature, which proves the server knows it too: a server that
/// never sends one fails the exchange. The password must be printable ASCII,
/// for which SASLprep (RFC 4013) changes nothing; other passwords are refused
/// with a clear error rather than normalized wrongly.
public struct SASLScramSHA256: SASLClient, CustomStringConvertible, CustomReflectable {
    /// "SCRAM-SHA-256".
    public var mechanism: String { "SCRAM-SHA-256" }
    /// False: only proofs derived from the password are sent.
    public var sendsSecretInClear: Bool { false }

    /// The highest iteration count apus accepts from a server (PBKDF2 cost).
    public static let maximumIterations = 1_000_000

    private enum State {
        case start
        case sentClientFirst(bare: String)
        case sentClientFinal(serverSignature: [UInt8])
        case verified
    }

    private let user: String
    private let password: String
    private var clientNonce: String?
    private var state = State.start
    private static let gs2Header = "n,,"

    /// An exchange for `user` with `password`.
    ///
    /// - Parameters:
    ///   - clientNonce: the client nonce, for tests with fixed vectors only;
    ///     nil (the default) draws 24 random bytes from OpenSSL.
    /// - Throws: ``SASLError`` when the password is not printable ASCII or a
    ///   nonce contains a comma.
    public init(user: String, password: String, clientNonce: String? = nil) throws {
        if password.utf8.contains(where: { $0 < 0x20 || $0 > 0x7E }) {
            throw SASLError(
                "SCRAM-SHA-256 needs SASLprep for a password with non-ASCII or control characters, "
                    + "which apus does not implement; use PLAIN or LOGIN over TLS")
        }
        try SASLText.checkNoNUL(user, "user name", "SCRAM-SHA-256")
        if let clientNonce, clientNonce.isEmpty || clientNonce.contains(",") {
            throw SASLError("a SCRAM nonce must be non-empty and without commas")
        }
        self.user = user
        self.password = password
        self.clientNonce = clientNonce
    }

    /// A SCRAM `saslname`: `=` as `=3D`, `,` as `=2C` (RFC 5802 §5.1).
    static func saslName(_ name: String) -> String {
        var out = ""
        for character in name {
            switch character {
            case "=": out += "=3D"
            case ",": out += "=2C"
            default: out.append(character)
            }
        }
        return out
    }

    /// The client-first message: `n,,n=USER,r=CNONCE`.
    public mutating func initialResponse() throws -> [UInt8]? {
        guard case .start = state else { throw SASLError("SCRAM-SHA-256 exchange started twice") }
        let nonce: String
        if let clientNonce {
            nonce = clientNonce
        } else {
            nonce = Base64.encodeString(try Crypto.random(count: 24))
            clientNonce = nonce
        }
        let bare = "n=\(SASLScramSHA256.saslName(user)),r=\(nonce)"
        state = .sentClientFirst(bare: bare)
        return Array((SASLScramSHA256.gs2Header + bare).utf8)
    }

    /// Answers the server-first message with the client proof, then checks
    /// the server-final message (answering it with an empty response).
    ///
    /// - Throws: ``SASLError`` for a malformed message, a server nonce that
    ///   does not extend ours, too many iterations, an `e=` error from the
    ///   server, or a server signature that does not match.
    public mutating func respond(to challenge: [UInt8]) throws -> [UInt8] {
        switch state {
        case .start:
            throw SASLError("SCRAM-SHA-256 challenge before the first message")
        case .sentClientFirst(let bare):
            return try clientFinal(bare: bare, serverFirst: challenge)
        case .sentClientFinal(let expected):
            try verify(serverFinal: challenge, expected: expected)
            state = .verified
            return []
        case .verified:
            throw SASLError("unexpected SCRAM-SHA-256 challenge after the server's signature")
        }
    }

    /// Checks the server signature sent as additional data with 235, unless
    /// it already came as a 334 challenge.
    ///
    /// - Throws: ``SASLError`` when no signature came at all, or it is wrong.
    public mutating func finish(successText: String) throws {
        switch state {
        case .verified:
            return
        case .sentClientFinal(let expected):
            for word in successText.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                guard let decoded = Base64.decode(Array(word.utf8)),
                    decoded.starts(with: Array("v=".utf8)) || decoded.starts(with: Array("e=".utf8))
                else { continue }
                try verify(serverFinal: decoded, expected: expected)
                state = .verified
                return
            }
            throw SASLError(
                "the server accepted SCRAM-SHA-256 without its signature, so it did not prove it knows the password")
        default:
            throw SASLError("the server accepted SCRAM-SHA-256 before the exchange was complete")
        }
    }

    private mutating func clientFinal(bare: String, serverFirst challenge: [UInt8]) throws -> [UInt8] {
        guard let serverFirst = String(validating: challenge, as: UTF8.self) else {
            throw SASLError("the SCRAM server-first message is not UTF-8")
        }
        var nonce: String?
        var salt: [UInt8]?
        var iterations: Int?
        for (index, field) in serverFirst.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            guard field.count >= 2, field.dropFirst().first == "=" else {
                throw SASLError("malformed SCRAM server-first message")
            }
            let value = String(field.dropFirst(2))
            switch field.first {
            case "m" where index == 0:
                throw SASLError("the SCRAM server requires an extension apus does not know")
            case "r" where index == 0: nonce = value
            case "s" where index == 1: salt = Base64.decode(Array(value.utf8))
            case "i" where index == 2: iterations = Int(value)
            default:
                if index < 3 { throw SASLError("malformed SCRAM server-first message") }
            }
        }
        guard let nonce, let salt, !salt.isEmpty, let iterations else {
            throw SASLError("malformed SCRAM server-first message")
        }
        guard let clientNonce, nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count else {
            throw SASLError("the SCRAM server's nonce does not extend the client's")
        }
        guard iterations >= 1, iterations <= SASLScramSHA256.maximumIterations else {
            throw SASLError(
                "the SCRAM server asks for \(iterations) iterations (apus accepts 1 to \(SASLScramSHA256.maximumIterations))"
            )
        }
        let channelBinding = Base64.encodeString(Array(SASLScramSHA256.gs2Header.utf8))
        let withoutProof = "c=\(channelBinding),r=\(nonce)"
        let authMessage = Array("\(bare),\(serverFirst),\(withoutProof)".utf8)

        let salted = try Crypto.pbkdf2(
            .sha256, password: Array(password.utf8), salt: salt, iterations: iterations, length: 32)
        let clientKey = try Crypto.hmac(.sha256, key: salted, data: Array("Client Key".utf8))
        let storedKey = try Crypto.sha256(clientKey)
        let clientSignature = try Crypto.hmac(.sha256, key: storedKey, data: authMessage)
        let proof = zip(clientKey, clientSignature).map { $0 ^ $1 }
        let serverKey = try Crypto.hmac(.sha256, key: salted, data: Array("Server Key".utf8))
        let serverSignature = try Crypto.hmac(.sha256, key: serverKey, data: authMessage)
        state = .sentClientFinal(serverSignature: serverSignature)
        return Array("\(withoutProof),p=\(Base64.encodeString(proof))".utf8)
    }

    private func verify(serverFinal: [UInt8], expected: [UInt8]) throws {
        let text = String(decoding: serverFinal, as: UTF8.self)
        let first = text.split(separator: ",", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        if first.hasPrefix("e=") {
            let reason = first.dropFirst(2).filter { $0.isASCII && !$0.isNewline }.prefix(100)
            throw SASLError("the SCRAM server reports an error: \(reason)")
        }
        guard first.hasPrefix("v="), let signature = Base64.decode(Array(first.dropFirst(2).utf8)) else {
            throw SASLError("malformed SCRAM server-final message")
        }
        guard signature == expected else {
            throw SASLError(
                "the SCRAM server's signature is wrong: the server does not know the password (or is not the server)")
        }
    }

    /// "SCRAM-SHA-256 as alice" (never the password).
    public var description: String { "SCRAM-SHA-256 as \(user)" }
    /// Shows the mechanism and user only.
    public var customMirror: Mirror { Mirror(self, children: ["mechanism": mechanism, "user": user]) }
}
