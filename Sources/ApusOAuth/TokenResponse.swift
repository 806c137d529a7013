import ApusBase

/// What the token endpoint answered (RFC 6749 §5.1 and §5.2).
package enum TokenResponse: Equatable, Sendable {
    /// A token: `access_token`, `expires_in` seconds (3600 when absent), and a
    /// new `refresh_token` when the endpoint rotates it.
    case token(accessToken: String, expiresIn: Int64, refreshToken: String?)
    /// An OAuth error: `error` and `error_description` (printable, cut to 300 characters).
    case error(code: String, description: String?)

    /// Reads an HTTP response from the token endpoint.
    ///
    /// - Throws: ``TokenResponseError`` for anything that is neither a usable
    ///   token nor an OAuth error: a 5xx, a body that is not JSON, a token that
    ///   is not a Bearer token or holds characters SASL cannot send.
    package static func read(_ response: HTTPResponse) throws(TokenResponseError) -> TokenResponse {
        let json: JSONValue?
        do { json = try JSONReader.parse(response.body) } catch { json = nil }
        if let json, let code = json["error"]?.string {
            return .error(
                code: printable(code, limit: 64),
                description: json["error_description"]?.string.map {
                    printable($0, limit: 300)
                })
        }
        guard response.status == 200 else {
            throw TokenResponseError("answered HTTP \(response.status) \(printable(response.reason, limit: 60))")
        }
        guard let json, case .object = json else { throw TokenResponseError("answered HTTP 200 without a JSON object") }
        guard let token = json["access_token"]?.string, !token.isEmpty else {
            throw TokenResponseError("answered without an access_token")
        }
        guard token.utf8.count <= 16384, token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw TokenResponseError("sent an access_token with characters SASL cannot carry")
        }
        if let type = json["token_type"]?.string, type.lowercased() != "bearer" {
            throw TokenResponseError("sent a token of type \(printable(type, limit: 30)), not Bearer")
        }
        var expiresIn: Int64 = 3600
        if let value = json["expires_in"] {
            guard let seconds = value.integer, seconds > 0, seconds <= 366 * 86400 else {
                throw TokenResponseError("sent a bad expires_in")
            }
            expiresIn = seconds
        }
        var refresh: String? = nil
        if let rotated = json["refresh_token"]?.string, !rotated.isEmpty {
            guard rotated.utf8.count <= 16384, rotated.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw TokenResponseError("sent a refresh_token with characters apus cannot store")
            }
            refresh = rotated
        }
        return .token(accessToken: token, expiresIn: expiresIn, refreshToken: refresh)
    }

    /// `text` with control and non-ASCII characters as `?`, at most `limit` characters.
    static func printable(_ text: String, limit: Int) -> String {
        DisplayText.oneLine(text, asciiOnly: true, limit: limit, ellipsis: "...")
    }
}

/// A token endpoint answer that is neither a token nor an OAuth error.
package struct TokenResponseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What the endpoint did ("answered HTTP 503 Service Unavailable").
    package var message: String
    /// Creates an error.
    package init(_ message: String) { self.message = message }
    /// ``message``.
    package var description: String { message }
}
