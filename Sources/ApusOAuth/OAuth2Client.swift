import ApusConfig
import ApusPOSIX
import ApusTransport
import Glibc

/// An access token and when it expires. Its ``description`` never shows the token.
package struct OAuth2Token: Sendable, CustomStringConvertible {
    /// The bearer token.
    package var accessToken: String
    /// Unix seconds at which the endpoint said it expires.
    package var expiresAt: Int64
    /// Whether it came from the cache rather than the endpoint.
    package var fromCache: Bool

    /// "token (expires at 1796000000, cached)".
    package var description: String { "token (expires at \(expiresAt)\(fromCache ? ", cached" : ""))" }
}

/// Why no token could be had. ``message`` names the endpoint and what it said
/// (the OAuth error code and description, an HTTP status, a connection
/// failure) and never holds a secret, token or assertion.
package struct OAuth2Failure: Error, Sendable, CustomStringConvertible {
    /// One line.
    package var message: String
    /// Whether the fault is on this host (a secret, refresh token or key file
    /// that cannot be read): exit 71 like an unreadable `password_file`.
    /// Otherwise it is temporary: the message is queued.
    package var isLocal: Bool
    /// The OAuth `error` code, when the endpoint sent one (`invalid_grant`).
    package var oauthError: String?

    /// ``message``.
    package var description: String { message }
}

/// Gets an account's bearer token from its token endpoint (config.md "OAuth2"),
/// through the cache in the queue directory.
///
/// ``token(refresh:)`` returns the cached token while it has more than
/// ``expiryMargin`` seconds left, else asks the endpoint: a form POST with
/// `grant_type`, `client_id`, `client_secret` (when set), `scope` (when set)
/// and `refresh_token` or `assertion`. A rotated refresh token replaces
/// `oauth2_refresh_token_file` atomically with its owner and mode. The trace
/// (`note`) gets one line per step, never a secret.
package struct OAuth2Client {
    /// Seconds before expiry at which a cached token is no longer used.
    package static let expiryMargin: Int64 = 60

    /// The settings.
    package var settings: OAuth2Settings
    /// The mailbox (`user`), part of the cache key.
    package var user: String
    /// The account's `tls_trust_file`, or `nil` for the system store.
    package var trustFile: String?
    /// The account's `timeout`.
    package var timeout: Double
    /// The queue directory holding the cache, or `nil` for no cache.
    package var cacheDirectory: String?
    /// The group cache files get, or `nil`.
    package var cacheGroup: gid_t?
    /// Where progress notes go (`-v`, `-X`), or `nil`.
    package var note: (@Sendable (String) -> Void)?
    /// Fetches the client secret (`oauth2_client_secret`, `_file`; `nil` when
    /// none is set) when a token is fetched, not when the cache serves one.
    package var readClientSecret: () throws -> String?
    /// The clock (Unix seconds).
    package var now: @Sendable () -> Int64 = { Int64(time(nil)) }

    /// A client for one account.
    package init(
        settings: OAuth2Settings, user: String, trustFile: String?, timeout: Double, cacheDirectory: String?,
        cacheGroup: gid_t?, note: (@Sendable (String) -> Void)?, readClientSecret: @escaping () throws -> String?
    ) {
        self.settings = settings
        self.user = user
        self.trustFile = trustFile
        self.timeout = timeout
        self.cacheDirectory = cacheDirectory
        self.cacheGroup = cacheGroup
        self.note = note
        self.readClientSecret = readClientSecret
    }

    /// "OAuth2 token endpoint https://login.example.com/token".
    package var endpointName: String { "OAuth2 token endpoint \(settings.tokenURL)" }

    /// The cache key (see ``TokenCache``).
    var cacheKey: String {
        let s = settings
        return [
            s.tokenURL.description, s.grant.rawValue, s.clientID ?? "", s.scope ?? "", s.subject ?? "",
            s.refreshTokenFile ?? "", user,
        ].joined(separator: "\u{0}")
    }

    private func cache() -> TokenCache? {
        guard let cacheDirectory else { return nil }
        return try? TokenCache(directory: cacheDirectory, key: cacheKey, group: cacheGroup)
    }

    /// A token: the cached one unless `refresh` (the server refused it, or
    /// `-bv`) or it expires within ``expiryMargin`` seconds, else a new one
    /// from the endpoint.
    ///
    /// Only one process at a time asks the endpoint for an account: the one
    /// that does holds the ``TokenLock`` beside the cache file while it asks
    /// and stores the answer. A process that finds the lock held waits for it
    /// (at most ``timeout`` seconds, then a temporary failure naming the
    /// lock) and reads the cache again: a token the other process just got is
    /// used without a request of its own, unless it is `refused` (the token
    /// the server refused, when `refresh`). When the lock file cannot be made
    /// (a queue directory apus cannot write), the request goes out without
    /// the lock, as the `-v` trace says.
    ///
    /// - Throws: ``OAuth2Failure``.
    package func token(refresh: Bool = false, refused: String? = nil) throws(OAuth2Failure) -> OAuth2Token {
        guard let cache = self.cache() else { return try fetch() }
        if !refresh, let cached = usableToken(in: cache, refused: nil) { return cached }
        let lockPath = cache.lockPath
        let outcome = TokenLock.acquire(
            lockPath, group: cacheGroup, until: Deadline.after(seconds: max(timeout, 1)),
            waiting: { note?("oauth2: waiting for another apus process to get the token (lock \(lockPath))") })
        let lock: TokenLock?
        switch outcome {
        case .held(let held): lock = held
        case .unavailable(let error):
            note?("oauth2: cannot lock \(lockPath): \(error.reason); asking the endpoint without the lock")
            lock = nil
        case .timedOut:
            throw OAuth2Failure(
                message:
                    "OAuth2 token lock \(lockPath) still held by another apus process after \(Int(max(timeout, 1))) s",
                isLocal: false)
        }
        defer { lock?.release() }
        // Another process may have got a token while this one waited.
        if !refresh || refused != nil, let cached = usableToken(in: cache, refused: refused) { return cached }
        if refresh {
            do { try cache.remove() } catch {
                note?("oauth2: cannot remove the refused cached token: \(error.reason)")
            }
        }
        let token = try fetch()
        do {
            try cache.store(token: token.accessToken, expiresAt: token.expiresAt)
        } catch {
            note?("oauth2: cannot cache the token in \(cache.path): \(error.reason)")
        }
        return token
    }

    /// The cached token when it has more than ``expiryMargin`` seconds left
    /// and is not `refused`, else `nil` (a cache that cannot be read is noted).
    private func usableToken(in cache: TokenCache, refused: String?) -> OAuth2Token? {
        do {
            guard let cached = try cache.load(), cached.expiresAt - Self.expiryMargin > now(),
                cached.token != refused
            else { return nil }
            note?("oauth2: using the cached token (expires in \(cached.expiresAt - now()) s)")
            return OAuth2Token(accessToken: cached.token, expiresAt: cached.expiresAt, fromCache: true)
        } catch {
            note?("oauth2: cannot read the token cache \(cache.path): \(error.reason)")
            return nil
        }
    }

    /// Asks the endpoint for a new token (no cache).
    ///
    /// - Throws: ``OAuth2Failure``.
    package func fetch() throws(OAuth2Failure) -> OAuth2Token {
        var secrets: [String] = []
        var fields: [(String, String)] = []
        switch settings.grant {
        case .clientCredentials: fields.append(("grant_type", "client_credentials"))
        case .refreshToken: fields.append(("grant_type", "refresh_token"))
        case .jwtBearer: fields.append(("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"))
        }
        if settings.grant != .jwtBearer, let clientID = settings.clientID { fields.append(("client_id", clientID)) }
        let secret: String?
        do {
            secret = try readClientSecret()
        } catch {
            let text = "\(error)".replacingPrefix("password_file", with: "oauth2_client_secret_file")
            throw OAuth2Failure(message: "cannot read the OAuth2 client secret: \(text)", isLocal: true)
        }
        if let secret {
            secrets.append(secret)
            fields.append(("client_secret", secret))
        }
        var refreshToken: String? = nil
        var refreshStatus: FileStatus? = nil
        switch settings.grant {
        case .clientCredentials:
            if let scope = settings.scope { fields.append(("scope", scope)) }
        case .refreshToken:
            let path = settings.refreshTokenFile ?? ""
            let read = try Self.readFile(path, setting: "oauth2_refresh_token_file")
            guard let line = Self.firstLine(read.bytes) else {
                throw OAuth2Failure(
                    message: "oauth2_refresh_token_file \(path): no refresh token in its first line", isLocal: true)
            }
            refreshToken = line
            refreshStatus = read.status
            secrets.append(line)
            fields.append(("refresh_token", line))
            if let scope = settings.scope { fields.append(("scope", scope)) }
        case .jwtBearer:
            let path = settings.privateKeyFile ?? ""
            let pem = try Self.readFile(path, setting: "oauth2_private_key_file").bytes
            let assertion: String
            do {
                assertion = try JWTAssertion.make(
                    issuer: settings.clientID ?? "", subject: settings.subject, audience: settings.tokenURL.description,
                    scope: settings.scope, issuedAt: now(), pem: pem)
            } catch let error as CryptoError {
                throw OAuth2Failure(message: "oauth2_private_key_file \(path): \(error.message)", isLocal: true)
            } catch {
                throw OAuth2Failure(message: "cannot sign the OAuth2 assertion: \(error)", isLocal: true)
            }
            secrets.append(assertion)
            fields.append(("assertion", assertion))
        }
        note?("oauth2: POST \(settings.tokenURL) (grant \(settings.grant.rawValue))")
        let response: HTTPResponse
        do {
            response = try HTTPSClient(trustFile: trustFile, timeout: timeout).post(
                settings.tokenURL, form: FormEncoding.encode(fields))
        } catch {
            throw OAuth2Failure(message: "\(endpointName): \(Self.scrub("\(error)", secrets))", isLocal: false)
        }
        let answer: TokenResponse
        do {
            answer = try TokenResponse.read(response)
        } catch {
            throw OAuth2Failure(message: "\(endpointName) \(Self.scrub(error.message, secrets))", isLocal: false)
        }
        switch answer {
        case .error(let code, let description):
            note?("oauth2: HTTP \(response.status), OAuth error \(code)")
            var text = "\(endpointName) refused: \(code)"
            if let description { text += ": \(Self.scrub(description, secrets))" }
            throw OAuth2Failure(message: text, isLocal: false, oauthError: code)
        case .token(let accessToken, let expiresIn, let rotated):
            let issued = now()
            note?("oauth2: HTTP \(response.status), token expires in \(expiresIn) s")
            if let rotated, let old = refreshToken, rotated != old, let path = settings.refreshTokenFile,
                let status = refreshStatus
            {
                do {
                    try AtomicFile.replace(
                        path, with: Array((rotated + "\n").utf8), mode: status.permissions, owner: status.userID,
                        group: status.groupID)
                    note?("oauth2: stored the rotated refresh token in \(path)")
                } catch {
                    note?("oauth2: warning: cannot store the rotated refresh token in \(path): \(error.reason)")
                }
            }
            return OAuth2Token(accessToken: accessToken, expiresAt: issued + expiresIn, fromCache: false)
        }
    }

    /// The file `setting` names (at most 64 KiB); one that is missing, not a
    /// regular file or unreadable is a local failure naming the setting.
    static func readFile(_ path: String, setting: String) throws(OAuth2Failure) -> (bytes: [UInt8], status: FileStatus)
    {
        let read: (bytes: [UInt8], status: FileStatus)?
        do { read = try AtomicFile.read(path, limit: 65536) } catch {
            let reason = error.code == EINVAL ? "not a regular file" : error.reason
            throw OAuth2Failure(message: "\(setting) \(path): \(reason)", isLocal: true)
        }
        guard let read else {
            throw OAuth2Failure(message: "\(setting) \(path): No such file or directory", isLocal: true)
        }
        return read
    }

    /// The first line of `bytes` without CR, or nil when empty or not printable.
    static func firstLine(_ bytes: [UInt8]) -> String? {
        var line = bytes.prefix { $0 != 0x0A }
        if line.last == 0x0D { line = line.dropLast() }
        while let last = line.last, last == 0x20 || last == 0x09 { line = line.dropLast() }
        guard !line.isEmpty, line.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        return String(decoding: line, as: UTF8.self)
    }

    /// `text` with every secret replaced by `(secret)`: an endpoint that
    /// echoes what it got never puts a secret in a message.
    static func scrub(_ text: String, _ secrets: [String]) -> String {
        var result = text
        for secret in secrets where secret.utf8.count >= 4 {
            result = result.replacingAll(secret, with: "(secret)")
        }
        return result
    }
}

extension String {
    fileprivate func replacingPrefix(_ prefix: String, with replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }

    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        let source = Array(utf8)
        let pattern = Array(target.utf8)
        guard !pattern.isEmpty, source.count >= pattern.count else { return self }
        var out: [UInt8] = []
        var index = 0
        while index < source.count {
            if index + pattern.count <= source.count && source[index..<index + pattern.count].elementsEqual(pattern) {
                out += replacement.utf8
                index += pattern.count
            } else {
                out.append(source[index])
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
