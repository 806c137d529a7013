import ApusBase
import ApusMessage
import ApusTransport

/// The RS256-signed JWT of the `jwt_bearer` grant (RFC 7523 §2.1, Google's
/// service accounts): header `{"alg":"RS256","typ":"JWT"}`, claims `iss`
/// (the client id), `sub` (the mailbox, when set), `aud` (the token URL),
/// `scope` (when set), `iat` and `exp` = `iat` + 3600.
package enum JWTAssertion {
    /// The claims as JSON text, members in a fixed order.
    package static func claims(issuer: String, subject: String?, audience: String, scope: String?, issuedAt: Int64)
        -> String
    {
        var members = ["\"iss\":\(JSONText.literal(issuer))"]
        if let subject { members.append("\"sub\":\(JSONText.literal(subject))") }
        members.append("\"aud\":\(JSONText.literal(audience))")
        if let scope { members.append("\"scope\":\(JSONText.literal(scope))") }
        members.append("\"iat\":\(issuedAt)")
        members.append("\"exp\":\(issuedAt + 3600)")
        return "{" + members.joined(separator: ",") + "}"
    }

    /// `base64url(header).base64url(claims).base64url(signature)`, signed
    /// with the PEM RSA key `pem`.
    ///
    /// - Throws: ``CryptoError`` (unreadable or non-RSA key) or ``TransportError/tlsUnavailable(_:)``.
    package static func make(
        issuer: String, subject: String?, audience: String, scope: String?, issuedAt: Int64, pem: [UInt8]
    ) throws -> String {
        let header = base64url(Array("{\"alg\":\"RS256\",\"typ\":\"JWT\"}".utf8))
        let body = base64url(
            Array(claims(issuer: issuer, subject: subject, audience: audience, scope: scope, issuedAt: issuedAt).utf8))
        let input = header + "." + body
        let signature = try Crypto.signRS256(pem: pem, data: Array(input.utf8))
        return input + "." + base64url(signature)
    }

    /// Base64url without padding (RFC 4648 §5, RFC 7515 §2).
    package static func base64url(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        for byte in Base64.encode(bytes) {
            switch byte {
            case 0x2B: out.append(0x2D)  // + -> -
            case 0x2F: out.append(0x5F)  // / -> _
            case 0x3D: continue  // no padding
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
