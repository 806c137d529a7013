import ApusPOSIX
import ApusTransport
import Glibc

/// Access tokens kept between runs in the queue directory, one file per
/// token source, so every apus process (any caller, through the apus group)
/// reuses a token until shortly before it expires.
///
/// File `QUEUE_DIR/oauth2-HASH.token`, where HASH is the first 32 hex digits
/// of SHA-256 over the token URL, grant, client id, scope, subject, refresh
/// token file and user (so two accounts never share a token). Mode 0660, group
/// apus (the queue's group): never readable by users, who cannot enter the
/// queue directory. Written atomically (``AtomicFile``). Format:
///
/// ```
/// apus-oauth2-token 1
/// expires 1796000000
/// token eyJ0eXAiOiJKV1QiLCJhbGciOi...
/// ```
///
/// A file that does not parse is ignored (and replaced by the next fetch).
package struct TokenCache {
    /// The file.
    package var path: String
    /// The ``TokenLock`` file beside it: `QUEUE_DIR/oauth2-HASH.lock`.
    package var lockPath: String
    /// The group new files get (the apus group when setgid), or `nil` to keep the process's.
    package var group: gid_t?

    /// The cache file for `key` in `directory`.
    package init(directory: String, key: String, group: gid_t?) throws {
        let digest = try Crypto.sha256(Array(key.utf8))
        let hex = digest.prefix(16).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        path = "\(directory)/oauth2-\(hex).token"
        lockPath = "\(directory)/oauth2-\(hex).lock"
        self.group = group
    }

    /// The cached token and its expiry (Unix seconds), or `nil` when there is
    /// none or it does not parse.
    ///
    /// - Throws: ``Errno`` when the file exists but cannot be read.
    package func load() throws(Errno) -> (token: String, expiresAt: Int64)? {
        guard let (bytes, _) = try AtomicFile.read(path, limit: 65536) else { return nil }
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        guard lines.count >= 3, lines[0] == "apus-oauth2-token 1", lines[1].hasPrefix("expires "),
            lines[2].hasPrefix("token "), let expires = Int64(lines[1].dropFirst(8))
        else { return nil }
        let token = String(lines[2].dropFirst(6))
        guard !token.isEmpty, token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        return (token, expires)
    }

    /// Stores `token`, expiring at `expiresAt`.
    ///
    /// - Throws: ``Errno`` naming the failing call.
    package func store(token: String, expiresAt: Int64) throws(Errno) {
        let text = "apus-oauth2-token 1\nexpires \(expiresAt)\ntoken \(token)\n"
        try AtomicFile.replace(path, with: Array(text.utf8), mode: 0o660, owner: nil, group: group)
    }

    /// Removes the file (a token the server refused). Missing is fine.
    package func remove() throws(Errno) {
        try FileSystem.unlinkIfPresent(path)
    }
}
