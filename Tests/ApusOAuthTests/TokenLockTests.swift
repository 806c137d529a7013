import ApusPOSIX
import ApusTestSupport
import Glibc
import Testing

@testable import ApusConfig
@testable import ApusOAuth

/// The refresh lock in ``OAuth2Client/token(refresh:refused:)`` without a
/// network: the token URL points at a loopback port nobody listens on, so
/// any request to the endpoint fails with a message naming it.
@Suite struct TokenLockTests {
    static func client(_ directory: TemporaryDirectory, timeout: Double = 5) throws -> OAuth2Client {
        let port = try freeLoopbackPort()
        let url = try #require(HTTPSURL("https://127.0.0.1:\(port)/token"))
        let settings = OAuth2Settings(
            tokenURL: url, grant: .clientCredentials, clientID: "client", clientSecret: .literal("secret"),
            scope: nil, refreshTokenFile: nil, privateKeyFile: nil, subject: nil)
        return OAuth2Client(
            settings: settings, user: "user@example.com", trustFile: nil, timeout: timeout,
            cacheDirectory: directory.path, cacheGroup: nil, note: nil, readClientSecret: { "secret" })
    }

    static func cache(_ client: OAuth2Client, _ directory: TemporaryDirectory) throws -> TokenCache {
        try TokenCache(directory: directory.path, key: client.cacheKey, group: nil)
    }

    /// The server refused `old`; another process has meanwhile stored `new`:
    /// `new` is used, no request goes out.
    @Test func refusedTokenReplacedByAnotherProcessIsNotFetchedAgain() throws {
        let directory = try TemporaryDirectory(prefix: "apus-token-lock")
        let client = try Self.client(directory)
        try Self.cache(client, directory).store(token: "tok-new", expiresAt: client.now() + 3600)
        let token = try client.token(refresh: true, refused: "tok-old")
        #expect(token.accessToken == "tok-new" && token.fromCache)
    }

    /// The cache still holds the refused token: it is removed and the
    /// endpoint asked (here: unreachable, so the failure names it).
    @Test func refusedTokenStillCachedIsFetchedAgain() throws {
        let directory = try TemporaryDirectory(prefix: "apus-token-lock")
        let client = try Self.client(directory)
        let cache = try Self.cache(client, directory)
        try cache.store(token: "tok-old", expiresAt: client.now() + 3600)
        #expect {
            _ = try client.token(refresh: true, refused: "tok-old")
        } throws: { error in
            (error as? OAuth2Failure)?.message.hasPrefix(client.endpointName) == true
        }
        #expect(try cache.load() == nil)
    }

    /// The lock held by another open file (as by another process): the wait
    /// ends at `timeout` with a temporary failure naming the lock, and
    /// nothing is asked; once it is released the token is fetched (and fails
    /// here on the missing endpoint, which shows the request was made).
    @Test func heldLockTimesOut() throws {
        let directory = try TemporaryDirectory(prefix: "apus-token-lock")
        let client = try Self.client(directory, timeout: 0.2)
        let lockPath = try Self.cache(client, directory).lockPath
        guard case .held(let holder) = TokenLock.acquire(lockPath, group: nil, until: .after(seconds: 1), waiting: {})
        else {
            Issue.record("the lock could not be taken")
            return
        }
        let started = Deadline.now
        #expect {
            _ = try client.token()
        } throws: { error in
            guard let failure = error as? OAuth2Failure else { return false }
            return !failure.isLocal
                && failure.message == "OAuth2 token lock \(lockPath) still held by another apus process after 1 s"
        }
        #expect(Deadline.seconds(since: started) < 5)
        holder.release()
        #expect {
            _ = try client.token()
        } throws: { error in
            (error as? OAuth2Failure)?.message.hasPrefix(client.endpointName) == true
        }
    }
}
