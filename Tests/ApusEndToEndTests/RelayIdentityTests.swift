import ApusTestSupport
import Foundation
import Testing

/// delivery.md "Relay identity" and security.md "Secrets": a local user who
/// listens on the relay's loopback port (unprivileged) gets neither the
/// password nor mail; root's listener and `relay_owner`'s do.
///
/// The attacker is a fresh unprivileged user (``SetgidFixture``) running a
/// small SMTP listener in Python that records every byte it receives.
@Suite(.serialized, .enabled(if: runningAsRoot, "needs root to make a test user"))
struct RelayIdentityTests {
    static let input = message(["Subject: relay identity"], body: "for the real relay only\n")
    static let credentials = "auth plain\nuser alice\npassword s3cret-relay-password\n"

    /// Root's relay (a scriptable server offering AUTH PLAIN, answered by `authenticate`).
    static func relay(
        authenticate: @escaping @Sendable (AuthExchange) throws -> ScriptedResponse
    ) throws -> ScriptableSMTPServer {
        var configuration = ScriptableSMTPServer.Configuration()
        configuration.extensions.append("AUTH PLAIN")
        configuration.authenticate = authenticate
        return try ScriptableSMTPServer(configuration)
    }

    /// An unprivileged user listens on 127.0.0.1:PORT while the relay is down.
    @Test func foreignListenerGetsNoAuthAndNoMail() throws {
        let listener = try ForeignListener.ofNewUser()
        defer { listener.stop() }
        let (fixture, port) = (listener.fixture, listener.port)
        let sandbox = try ApusSandbox(port: port, settings: Self.credentials)

        let result = try sandbox.run(["rcpt@test.example"], input: Self.input)
        #expect(result.status == 0, "\(result.summary)")
        let reason = "relay 127.0.0.1[127.0.0.1]:\(port) is owned by uid \(fixture.uid) (\(fixture.user)), not root"
        #expect(result.stderr.contains("queued") && result.stderr.contains(reason), "\(result.summary)")
        #expect(
            sandbox.queueFiles().count == 1 && sandbox.queuedMessages().count == 1,
            "the message waits in the queue: \(sandbox.queueFiles())")
        #expect(listener.connections() >= 1, "apus did connect (the test must reach the listener)")

        // A queue run never hands the message to it either.
        let run = try sandbox.run(["-qf"])
        #expect(run.status == 0, "\(run.summary)")
        #expect(sandbox.queueFiles().count == 1 && sandbox.queuedMessages().count == 1, "\(run.summary)")
        #expect(listener.received().isEmpty, "the listener got: \(listener.received())")
        #expect(sandbox.logLines().contains { $0.contains("is owned by uid \(fixture.uid)") }, "\(sandbox.logLines())")

        // relay_owner naming that user makes it the relay: the queued message goes.
        try sandbox.writeConfig(sandbox.settings + "relay_owner \(fixture.user)\n")
        let owned = try sandbox.run(["-qf"])
        #expect(owned.status == 0, "\(owned.summary)")
        #expect(listener.wait { $0.contains("\r\n.\r\n") }, "not delivered: \(listener.received())")
        #expect(listener.received().contains("AUTH PLAIN"), "\(listener.received())")
        #expect(sandbox.queueFiles().isEmpty, "\(sandbox.queueFiles())")
    }

    /// `relay_owner` as a uid works like the name.
    @Test func relayOwnerByUid() throws {
        let listener = try ForeignListener.ofNewUser()
        defer { listener.stop() }
        let (fixture, port) = (listener.fixture, listener.port)
        let sandbox = try ApusSandbox(port: port, settings: "relay_owner \(fixture.uid)\n")
        let result = try sandbox.run(["rcpt@test.example"], input: Self.input)
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.summary)")
        #expect(listener.received().contains("for the real relay only"), "\(listener.received())")
    }

    /// `host localhost` resolving to ::1 first: the user's listener on [::1] gets
    /// nothing; apus goes on to 127.0.0.1, where the real relay takes the message.
    @Test(.enabled(if: SetgidFixture.namespacesWork, "no private mount namespace for /etc/hosts here"))
    func foreignListenerOnIPv6LoopbackGetsNothing() throws {
        let relay = try Self.relay(
            authenticate: AuthExchange.accepting(user: "alice", password: "s3cret-relay-password"))
        defer { relay.stop() }
        let listener = try ForeignListener.ofNewUser(host: "::1", port: relay.port)
        defer { listener.stop() }
        let sandbox = try ApusSandbox(port: relay.port, host: "localhost", settings: "tls off\n" + Self.credentials)
        let hosts = try sandbox.directory.write("hosts", "::1 localhost\n127.0.0.1 localhost\n")
        let script = "mount --bind \"$1\" /etc/hosts && shift && exec \"$@\""
        let result = try Subprocess.run(
            "/usr/bin/unshare",
            arguments: [
                "--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh", hosts, sandbox.executable,
                "-C", sandbox.configPath, "rcpt@test.example",
            ],
            standardInput: Array(Self.input.utf8), timeout: 20)
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.summary)")
        #expect(listener.connections() >= 1, "localhost did not resolve to ::1 first: \(result.summary)")
        #expect(listener.received().isEmpty, "the listener got: \(listener.received())")
        #expect(relay.waitForMessages(1).count == 1, "the real relay did not get it: \(result.summary)")
        #expect(relay.commandLines.contains { $0.hasPrefix("AUTH PLAIN") })
    }

    /// After a refused listener the fallback relay (root's) takes the message.
    @Test func fallbackIsTriedAfterARefusal() throws {
        let listener = try ForeignListener.ofNewUser()
        defer { listener.stop() }
        let port = listener.port
        let fallback = try Self.relay(authenticate: { _ in "235 2.7.0 Authentication successful" })
        defer { fallback.stop() }
        let sandbox = try ApusSandbox(port: port, settings: Self.credentials + "fallback 127.0.0.1:\(fallback.port)\n")
        let result = try sandbox.run(["rcpt@test.example"], input: Self.input)
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.summary)")
        #expect(fallback.waitForMessages(1).count == 1)
        #expect(fallback.commandLines.contains { $0.hasPrefix("AUTH PLAIN") }, "root's listener gets AUTH")
        #expect(listener.received().isEmpty, "the listener got: \(listener.received())")
    }
}

/// An SMTP listener run as the fixture's unprivileged user (`runuser`), that
/// accepts anything (EHLO offers AUTH PLAIN LOGIN) and appends every byte it
/// receives to a file. Stopped by its PID.
final class ForeignListener: @unchecked Sendable {
    static let script = """
        import os, socket, sys
        host, port, record, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
        s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(16)
        s.settimeout(120)
        with open(ready + '.tmp', 'w') as f: f.write(str(os.getpid()))
        os.rename(ready + '.tmp', ready)
        def log(b):
            with open(record, 'ab') as f: f.write(b)
        while True:
            try: c, _ = s.accept()
            except OSError: break
            with open(record + '.connections', 'a') as f: f.write('x')
            c.settimeout(10)
            try:
                c.sendall(b'220 listener ESMTP\\r\\n')
                buf, data = b'', False
                while True:
                    chunk = c.recv(65536)
                    if not chunk: break
                    log(chunk)
                    buf += chunk
                    while b'\\n' in buf:
                        line, buf = buf.split(b'\\n', 1)
                        if data:
                            if line.rstrip(b'\\r') == b'.':
                                data = False
                                c.sendall(b'250 2.0.0 taken\\r\\n')
                            continue
                        verb = line[:4].upper()
                        if verb == b'EHLO': c.sendall(b'250-listener\\r\\n250-AUTH PLAIN LOGIN\\r\\n250 8BITMIME\\r\\n')
                        elif verb == b'AUTH': c.sendall(b'235 2.7.0 ok\\r\\n')
                        elif verb == b'DATA':
                            data = True
                            c.sendall(b'354 go\\r\\n')
                        elif verb == b'QUIT': c.sendall(b'221 bye\\r\\n')
                        else: c.sendall(b'250 ok\\r\\n')
            except OSError: pass
            c.close()
        """

    let process = Process()
    let record: String
    let pid: pid_t
    /// The user it runs as.
    let fixture: SetgidFixture
    /// The port it listens on.
    let port: UInt16

    /// A listener run by a fresh unprivileged user (removed by ``stop()``) on
    /// `host` at `port` (a free one by default).
    static func ofNewUser(host: String = "127.0.0.1", port: UInt16? = nil) throws -> ForeignListener {
        let fixture = try SetgidFixture()
        do {
            return try ForeignListener(fixture: fixture, host: host, port: port ?? freeLoopbackPort())
        } catch {
            fixture.remove()
            throw error
        }
    }

    private init(fixture: SetgidFixture, host: String, port: UInt16) throws {
        self.fixture = fixture
        self.port = port
        record = fixture.home + "/listener-\(port).bytes"
        let ready = fixture.home + "/listener-\(port).ready"
        let scriptPath = try fixture.writeUserFile("listener.py", Self.script, mode: 0o644)
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
        process.arguments = [
            "-u", fixture.user, "--", "/usr/bin/python3", scriptPath, host, String(port), record, ready,
        ]
        process.currentDirectoryURL = URL(fileURLWithPath: fixture.home)
        try process.run()
        let start = Date()
        while !FileManager.default.fileExists(atPath: ready) {
            guard process.isRunning, Date().timeIntervalSince(start) < 10 else {
                if process.isRunning { process.terminate() }
                throw SetgidFixture.SetupError(description: "the listener on \(host):\(port) did not start")
            }
            usleep(10_000)
        }
        pid = pid_t(try String(contentsOfFile: ready, encoding: .utf8)) ?? 0
    }

    /// Everything received so far, as text.
    func received() -> String { (try? String(contentsOfFile: record, encoding: .utf8)) ?? "" }

    /// How many connections it accepted, waiting up to 5 s for the first.
    func connections() -> Int {
        func count() -> Int { ((try? String(contentsOfFile: record + ".connections", encoding: .utf8)) ?? "").count }
        let start = Date()
        while count() == 0 && Date().timeIntervalSince(start) < 5 { usleep(20_000) }
        return count()
    }

    /// Waits up to 5 s for `condition` on what was received.
    func wait(_ condition: (String) -> Bool) -> Bool {
        let start = Date()
        while Date().timeIntervalSince(start) < 5 {
            if condition(received()) { return true }
            usleep(20_000)
        }
        return condition(received())
    }

    /// Stops the listener (SIGKILL to its PID: the test runner may leave SIGTERM
    /// blocked in its children), waits for `runuser` and removes the user.
    func stop() {
        if pid > 0 { kill(pid, SIGKILL) }
        process.waitUntilExit()
        fixture.remove()
    }
}
