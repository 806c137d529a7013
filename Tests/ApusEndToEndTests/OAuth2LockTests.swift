import ApusTestSupport
import Foundation
import Glibc
import Testing

/// config.md "OAuth2", the refresh lock: two apus processes that find the
/// cached token expired ask the token endpoint once between them. The first
/// holds `oauth2-HASH.lock` while it asks; the second waits for it, reads the
/// cache again and uses the first one's token.
///
/// The order is made, not hoped for: the endpoint holds its answer (`hold`)
/// until the test releases it; the first apus is started and the test reads
/// its `-v` trace up to the request (the lock is held from before it), then
/// starts the second and reads its trace up to "waiting", and only then lets
/// the endpoint answer. An apus without the lock would send a second request
/// instead, which also lets the held answers go (so such a test fails, it
/// does not hang).
@Suite(.serialized) struct OAuth2LockTests {
    static let waiting = "oauth2: waiting for another apus process to get the token"

    /// Client credentials: one token request for two messages, both sent
    /// with the same token, the second process noting that it waited.
    @Test func secondProcessWaitsAndUsesTheFirstOnesToken() throws {
        let world = try OAuthWorld(behaviour: ["expires_in": "30"])
        defer { world.stop() }
        let endpoint = try #require(world.endpoint)
        let config = try world.config()
        // A cached token that is too close to its expiry to be used.
        let primed = try world.harness.submit(config, subject: "prime")
        #expect(primed.status == 0, "\(primed.stderr)")
        #expect(world.recorder.tokens == ["tok-1"])
        try endpoint.setBehaviour(["hold": true])

        let (first, second) = try Self.overlap(config, world: world, subjects: ("lock-one", "lock-two"))
        #expect(first.status == 0 && second.status == 0, "\(first.stderr)\n---\n\(second.stderr)")
        #expect(second.stderr.contains(Self.waiting), "\(second.stderr)")
        #expect(second.stderr.contains("oauth2: using the cached token"), "\(second.stderr)")
        #expect(!second.stderr.contains("oauth2: POST"), "\(second.stderr)")
        #expect(endpoint.forms().count == 2, "one request for both: \(endpoint.forms().count - 1)")
        #expect(world.recorder.tokens == ["tok-1", "tok-2", "tok-2"])
        let accepted = acceptedSubjects(world.server)
        #expect(accepted["lock-one"] == 1 && accepted["lock-two"] == 1, "\(accepted)")
        #expect(try world.harness.visibleIDs().isEmpty)

        // The lock file stays, empty, mode 0660 like the cache beside it.
        let locks = try world.harness.queueFiles().filter { $0.hasPrefix("oauth2-") && $0.hasSuffix(".lock") }
        #expect(locks.count == 1, "\(locks)")
        let lock = try #require(locks.first)
        var status = stat()
        #expect(stat(world.harness.queue + "/" + lock, &status) == 0)
        #expect(status.st_mode & 0o7777 == 0o660)
        #expect(status.st_size == 0)
    }

    /// Refresh-token rotation: the endpoint accepts only the current refresh
    /// token and answers with the next. The second process would send the
    /// token the first one's request revokes; it waits and sends nothing.
    @Test func rotationNeverSendsARevokedRefreshToken() throws {
        let world = try OAuthWorld(behaviour: ["expires_in": "30", "rotate": "rt-0"])
        defer { world.stop() }
        let endpoint = try #require(world.endpoint)
        let refreshFile = try world.harness.directory.write("refresh-token", "rt-0\n", mode: 0o600)
        let config = try world.config(oauth: [
            "oauth2_grant refresh_token", "oauth2_client_id desktop-client",
            "oauth2_refresh_token_file \(refreshFile)", "oauth2_scope https://mail.google.com/",
        ])
        let primed = try world.harness.submit(config, subject: "prime")
        #expect(primed.status == 0, "\(primed.stderr)")
        #expect(try String(contentsOfFile: refreshFile, encoding: .utf8) == "rt-1\n")
        try endpoint.setBehaviour(["rotate": "rt-0", "hold": true])

        let (first, second) = try Self.overlap(config, world: world, subjects: ("rotate-one", "rotate-two"))
        #expect(first.status == 0 && second.status == 0, "\(first.stderr)\n---\n\(second.stderr)")
        #expect(parseQueuedLine(first) == nil && parseQueuedLine(second) == nil, "\(first.stderr)\n\(second.stderr)")
        #expect(second.stderr.contains(Self.waiting), "\(second.stderr)")
        #expect(endpoint.forms().map { $0["refresh_token"] ?? "" } == ["rt-0", "rt-1"])
        #expect(try String(contentsOfFile: refreshFile, encoding: .utf8) == "rt-2\n")
        #expect(world.recorder.tokens == ["tok-1", "tok-2", "tok-2"])
        let accepted = acceptedSubjects(world.server)
        #expect(accepted["rotate-one"] == 1 && accepted["rotate-two"] == 1, "\(accepted)")
        #expect(!(first.stderr + second.stderr + world.harness.log()).contains("rt-"))
    }

    /// A holder that takes longer than the waiter's `timeout`: the waiter
    /// gives up after it, a temporary failure naming the lock (queued), and
    /// a queue run later sends the message with the holder's token.
    @Test func waitingEndsAtTheTimeout() throws {
        let world = try OAuthWorld(behaviour: ["hold": true])
        defer { world.stop() }
        let endpoint = try #require(world.endpoint)
        let config = try world.config()
        // The same account (so the same cache and lock) with a 1 s timeout.
        let impatient = try world.harness.config(
            "impatient.conf", port: world.server.port, timeout: "1",
            extra: [
                "user \(OAuthWorld.mailbox)", "auth xoauth2", "oauth2_token_url \(world.tokenURL)",
                "tls_trust_file \(world.certificates.caFile)", "oauth2_client_id client-123",
                "oauth2_client_secret_file \(world.secretFile)",
                "oauth2_scope https://outlook.office365.com/.default",
            ])

        let first = try RunningApus(world.harness, ["-C", config, "-v", "-i", "--", "rcpt@example.com"], "slow")
        #expect(first.readError(until: "oauth2: POST"), "\(first.errorText)")
        let waited = try world.harness.submit(impatient, subject: "impatient")
        try endpoint.release()
        let done = first.finish()
        #expect(done.status == 0, "\(done.stderr)")
        #expect(waited.status == 0, "\(waited.stderr)")
        let queued = try #require(parseQueuedLine(waited), "\(waited.stderr)")
        #expect(
            queued.reason.contains("OAuth2 token lock \(world.harness.queue)/oauth2-")
                && queued.reason.contains(".lock still held by another apus process after 1 s"), "\(queued.reason)")
        #expect(endpoint.forms().count == 1)

        let run = try world.harness.runQueue(config)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(endpoint.forms().count == 1, "the queue run uses the cached token")
        #expect(world.recorder.tokens == ["tok-1", "tok-1"])
        #expect(try world.harness.visibleIDs().isEmpty)
    }

    /// A lock file that cannot be opened (here a symbolic link, which apus
    /// never follows): the token is fetched without the lock, as the trace
    /// says, and the message goes.
    @Test func unusableLockFileFallsBackToAnUnlockedRequest() throws {
        let world = try OAuthWorld(behaviour: ["expires_in": "30"])
        defer { world.stop() }
        let config = try world.config()
        let primed = try world.harness.submit(config, subject: "prime")
        #expect(primed.status == 0, "\(primed.stderr)")
        let cache = try #require(try world.harness.queueFiles().first { $0.hasSuffix(".token") })
        let lock = world.harness.queue + "/" + String(cache.dropLast(".token".count)) + ".lock"
        #expect(unlink(lock) == 0)
        #expect(symlink(world.harness.directory.file("elsewhere"), lock) == 0)

        let result = try world.harness.apus(
            ["-C", config, "-v", "-i", "--", "rcpt@example.com"], input: QueueHarness.message(subject: "unlocked"))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stderr.contains("oauth2: cannot lock \(lock): ")
                && result.stderr.contains("; asking the endpoint without the lock"), "\(result.stderr)")
        #expect(world.endpoint?.forms().count == 2)
        #expect(acceptedSubjects(world.server)["unlocked"] == 1)
        #expect(!FileManager.default.fileExists(atPath: world.harness.directory.file("elsewhere")))
    }

    /// Runs two submissions of `config` so that the second reaches the lock
    /// while the first holds it (see the suite), then lets the endpoint answer.
    static func overlap(_ config: String, world: OAuthWorld, subjects: (String, String)) throws
        -> (SubprocessResult, SubprocessResult)
    {
        let endpoint = try #require(world.endpoint)
        let arguments = ["-C", config, "-v", "-i", "--", "rcpt@example.com"]
        let first = try RunningApus(world.harness, arguments, subjects.0)
        #expect(first.readError(until: "oauth2: POST"), "\(first.errorText)")
        let second = try RunningApus(world.harness, arguments, subjects.1)
        #expect(second.readError(until: Self.waiting), "\(second.errorText)")
        try endpoint.release()
        return (first.finish(), second.finish())
    }
}

/// An apus submission running in the background, its `-v` trace on
/// standard error read as it comes.
final class RunningApus {
    private let process = Process()
    private let errors = Pipe()
    private let output = Pipe()
    private var collected = Data()
    private var ended = false

    /// Starts `apus arguments…` with a message whose Subject is `subject`.
    init(_ harness: QueueHarness, _ arguments: [String], _ subject: String) throws {
        process.executableURL = URL(fileURLWithPath: harness.executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["APUS_FAULT"] = nil
        process.environment = environment
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        try input.fileHandleForWriting.write(contentsOf: QueueHarness.message(subject: subject))
        try input.fileHandleForWriting.close()
    }

    /// Standard error so far.
    var errorText: String { String(decoding: collected, as: UTF8.self) }

    /// Reads standard error until it holds `text` (true) or ends (false).
    /// apus bounds its own run (its `timeout`), so this ends too.
    func readError(until text: String) -> Bool {
        while !errorText.contains(text) {
            if ended { return false }
            let chunk = errors.fileHandleForReading.availableData
            if chunk.isEmpty { ended = true } else { collected += chunk }
        }
        return true
    }

    /// Waits for it to exit; its status and whole standard error.
    func finish() -> SubprocessResult {
        while !ended {
            let chunk = errors.fileHandleForReading.availableData
            if chunk.isEmpty { ended = true } else { collected += chunk }
        }
        let standardOutput = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return SubprocessResult(
            status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
            timedOut: false, standardOutput: Array(standardOutput), standardError: Array(collected))
    }
}
