/// How an account gets its OAuth2 bearer token (config.md "OAuth2"): the
/// token endpoint, the grant, and the credentials the grant needs.
///
/// Built by ``Configuration`` when `oauth2_token_url` is set; checked at load
/// (the grant's required keys, `auth xoauth2`/`oauthbearer`). Its
/// ``description`` never shows the client secret.
package struct OAuth2Settings: Equatable, Sendable {
    /// `oauth2_token_url`: the token endpoint (https only).
    package var tokenURL: HTTPSURL
    /// `oauth2_grant` (default ``OAuth2Grant/clientCredentials``).
    package var grant: OAuth2Grant
    /// `oauth2_client_id`, or `nil`.
    package var clientID: String?
    /// `oauth2_client_secret` (`.literal`) or `oauth2_client_secret_file`
    /// (`.file`), or `.none`; ApusDelivery's `PasswordSource.retrieve(timeout:)` reads it.
    package var clientSecret: PasswordSource
    /// `oauth2_scope`: space-separated scopes, or `nil`.
    package var scope: String?
    /// `oauth2_refresh_token_file` (`refresh_token` grant), or `nil`.
    package var refreshTokenFile: String?
    /// `oauth2_private_key_file`: the PEM RSA key (`jwt_bearer` grant), or `nil`.
    package var privateKeyFile: String?
    /// `oauth2_subject`: the mailbox a service account acts for (`jwt_bearer`), or `nil`.
    package var subject: String?

    /// The key lines, in apus.conf syntax, the secret shown as `(set)`.
    package var descriptionLines: [String] {
        var lines = ["oauth2_token_url \(tokenURL)", "oauth2_grant \(grant.rawValue)"]
        if let clientID { lines.append("oauth2_client_id \(clientID)") }
        switch clientSecret {
        case .none, .command: break
        case .literal: lines.append("oauth2_client_secret (set)")
        case .file(let path): lines.append("oauth2_client_secret_file \(path)")
        }
        if let scope { lines.append("oauth2_scope \(scope)") }
        if let refreshTokenFile { lines.append("oauth2_refresh_token_file \(refreshTokenFile)") }
        if let privateKeyFile { lines.append("oauth2_private_key_file \(privateKeyFile)") }
        if let subject { lines.append("oauth2_subject \(subject)") }
        return lines
    }
}

/// `oauth2_grant`: how the token is obtained.
package enum OAuth2Grant: String, Equatable, Sendable, CaseIterable {
    /// RFC 6749 §4.4: client id and secret (Microsoft 365 app-only access).
    case clientCredentials = "client_credentials"
    /// RFC 6749 §6: a user's refresh token, kept in `oauth2_refresh_token_file`.
    case refreshToken = "refresh_token"
    /// RFC 7523: a JWT signed with the service account's RSA key (Google).
    case jwtBearer = "jwt_bearer"
}

/// An `https://` URL as apus.conf accepts it: a host (name or address), an
/// optional port (default 443) and a path with an optional query; no user
/// information, no fragment, nothing outside printable ASCII.
package struct HTTPSURL: Equatable, Sendable, CustomStringConvertible {
    /// The host name or address, IPv6 without brackets.
    package var host: String
    /// The port (default 443).
    package var port: Int
    /// The path and query, starting with `/` (`/` when the URL has none).
    package var path: String

    /// Parses `text`.
    ///
    /// - Throws: ``ValueError`` naming the fault; `http://` is refused because
    ///   the request carries the client secret.
    init(parsing text: String) throws(ValueError) {
        let bytes = Array(text.utf8)
        guard bytes.count <= 2048 else { throw ValueError("the URL is longer than 2048 characters") }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw ValueError("the URL holds a blank, a control character or non-ASCII text")
        }
        let lower = text.lowercased()
        if lower.hasPrefix("http://") {
            throw ValueError("an http:// token endpoint would send the client's credentials in clear: use https://")
        }
        guard lower.hasPrefix("https://") else { throw ValueError("\(quoted(text)) is not an https:// URL") }
        let rest = bytes[8...]
        if rest.contains(0x23) { throw ValueError("the URL may not have a fragment ('#')") }
        let slash = rest.firstIndex(of: 0x2F) ?? rest.firstIndex(of: 0x3F) ?? rest.endIndex
        let authority = String(decoding: rest[..<slash], as: UTF8.self)
        var path = String(decoding: rest[slash...], as: UTF8.self)
        if path.isEmpty { path = "/" } else if path.utf8.first == 0x3F { path = "/" + path }
        if authority.containsByte(0x40) { throw ValueError("the URL may not hold a user name or password ('@')") }
        guard !authority.isEmpty else { throw ValueError("\(quoted(text)) names no host") }
        let relay = try ValueParsing.relay(authority)
        host = relay.host
        port = relay.port ?? 443
        self.path = path
    }

    /// Parses `text`, or `nil` when apus.conf would refuse it.
    package init?(_ text: String) {
        guard let url = try? HTTPSURL(parsing: text) else { return nil }
        self = url
    }

    /// `https://host[:port]/path` (the port only when not 443).
    package var description: String {
        let name = host.containsByte(0x3A) ? "[\(host)]" : host
        return "https://\(name)\(port == 443 ? "" : ":\(port)")\(path)"
    }

    /// `host[:port]` as the HTTP `Host` header wants it.
    package var hostHeader: String {
        let name = host.containsByte(0x3A) ? "[\(host)]" : host
        return port == 443 ? name : "\(name):\(port)"
    }
}

/// The `oauth2_*` lines of one section, as written.
struct OAuth2Lines: Sendable {
    var tokenURL: HTTPSURL??
    var grant: OAuth2Grant?
    var clientID: String?
    var clientSecret: PasswordSource?
    var scope: String?
    var refreshTokenFile: String?
    var privateKeyFile: String?
    var subject: String?

    /// The keys, for ``AccountSettings/keys`` and ``isKey(_:)``.
    static let names = [
        "oauth2_token_url", "oauth2_grant", "oauth2_client_id", "oauth2_client_secret", "oauth2_client_secret_file",
        "oauth2_scope", "oauth2_refresh_token_file", "oauth2_private_key_file", "oauth2_subject",
    ]

    /// Whether `key` is one of ``names``.
    static func isKey(_ key: String) -> Bool { names.contains(key) }

    /// Applies one line whose key is in ``names``; `clears` for a quoted empty value.
    mutating func apply(key: String, value: String, clears: Bool) throws(ValueError) {
        switch key {
        case "oauth2_token_url": tokenURL = .some(clears ? nil : try HTTPSURL(parsing: value))
        case "oauth2_grant": grant = try ValueParsing.choice(value, OAuth2Grant.self)
        case "oauth2_client_id": clientID = clears ? "" : try Self.token(value, "client id")
        case "oauth2_client_secret": clientSecret = clears ? PasswordSource.none : .literal(value)
        case "oauth2_client_secret_file":
            clientSecret = clears ? PasswordSource.none : .file(try ValueParsing.path(value))
        case "oauth2_scope": scope = clears ? "" : try Self.scope(value)
        case "oauth2_refresh_token_file": refreshTokenFile = clears ? "" : try ValueParsing.path(value)
        case "oauth2_private_key_file": privateKeyFile = clears ? "" : try ValueParsing.path(value)
        case "oauth2_subject": subject = clears ? "" : try ValueParsing.fromAddress(value)
        default: preconditionFailure("OAuth2Lines.apply called with \(key)")
        }
    }

    /// Printable ASCII without blanks (a client id).
    static func token(_ value: String, _ what: String) throws(ValueError) -> String {
        guard value.utf8.count <= 1024, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw ValueError("the \(what) must be printable ASCII without blanks")
        }
        return value
    }

    /// Scopes: printable ASCII words separated by single spaces (RFC 6749 §3.3).
    static func scope(_ value: String) throws(ValueError) -> String {
        let words = value.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard value.utf8.count <= 2048, !words.isEmpty,
            words.allSatisfy({ $0.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C } })
        else { throw ValueError("scopes are printable ASCII words separated by spaces") }
        return words.joined(separator: " ")
    }

    /// The effective settings, or `nil` without a token URL; checks that the
    /// grant has what it needs and that `auth` allows a bearer token.
    ///
    /// - Returns: the settings and the authentication to use (`auth` unset or
    ///   `on` becomes `xoauth2`).
    func resolve(authentication: Authentication?, password: PasswordSource?) throws(ValueError)
        -> (OAuth2Settings, Authentication)?
    {
        func nonEmpty(_ text: String?) -> String? { text.flatMap { $0.isEmpty ? nil : $0 } }
        guard let url = tokenURL ?? nil else {
            // The first key set, in this order, by plain tests: an array of
            // `String?` here cost every start the run-time instantiation of
            // its generic metadata (34,000 instructions).
            let first: String? =
                if grant != nil { "oauth2_grant" } else if nonEmpty(clientID) != nil {
                    "oauth2_client_id"
                } else if (clientSecret ?? .none) != .none { "oauth2_client_secret" } else if nonEmpty(scope) != nil {
                    "oauth2_scope"
                } else if nonEmpty(refreshTokenFile) != nil {
                    "oauth2_refresh_token_file"
                } else if nonEmpty(privateKeyFile) != nil { "oauth2_private_key_file" } else if nonEmpty(subject) != nil
                { "oauth2_subject" } else { nil }
            if let first { throw ValueError("'\(first)' is set without 'oauth2_token_url'") }
            return nil
        }
        let chosen: Authentication
        switch authentication {
        case nil, .automatic: chosen = .mechanism(.xoauth2)
        case .mechanism(.xoauth2), .mechanism(.oauthBearer): chosen = authentication ?? .mechanism(.xoauth2)
        case .off: throw ValueError("'oauth2_token_url' is set but 'auth' is off (use auth xoauth2 or oauthbearer)")
        case .mechanism(let other):
            throw ValueError("'oauth2_token_url' needs auth xoauth2 or oauthbearer, not \(other.rawValue)")
        }
        if let password, password != .none {
            throw ValueError(
                "'oauth2_token_url' replaces the password: remove 'password', 'password_file' or 'passwordeval'")
        }
        let settings = OAuth2Settings(
            tokenURL: url, grant: grant ?? .clientCredentials, clientID: nonEmpty(clientID),
            clientSecret: clientSecret ?? .none, scope: nonEmpty(scope), refreshTokenFile: nonEmpty(refreshTokenFile),
            privateKeyFile: nonEmpty(privateKeyFile), subject: nonEmpty(subject))
        switch settings.grant {
        case .clientCredentials:
            guard settings.clientID != nil else {
                throw ValueError("oauth2_grant client_credentials needs 'oauth2_client_id'")
            }
            guard settings.clientSecret != .none else {
                throw ValueError(
                    "oauth2_grant client_credentials needs 'oauth2_client_secret' or 'oauth2_client_secret_file'")
            }
        case .refreshToken:
            guard settings.refreshTokenFile != nil else {
                throw ValueError("oauth2_grant refresh_token needs 'oauth2_refresh_token_file'")
            }
            guard settings.clientID != nil else {
                throw ValueError("oauth2_grant refresh_token needs 'oauth2_client_id'")
            }
        case .jwtBearer:
            guard settings.privateKeyFile != nil else {
                throw ValueError("oauth2_grant jwt_bearer needs 'oauth2_private_key_file'")
            }
            guard settings.clientID != nil else {
                throw ValueError("oauth2_grant jwt_bearer needs 'oauth2_client_id' (the service account's email)")
            }
        }
        if settings.grant != .refreshToken && settings.refreshTokenFile != nil {
            throw ValueError("'oauth2_refresh_token_file' is only for oauth2_grant refresh_token")
        }
        if settings.grant != .jwtBearer && (settings.privateKeyFile != nil || settings.subject != nil) {
            throw ValueError("'oauth2_private_key_file' and 'oauth2_subject' are only for oauth2_grant jwt_bearer")
        }
        return (settings, chosen)
    }
}
