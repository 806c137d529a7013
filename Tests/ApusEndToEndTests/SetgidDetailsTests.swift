import ApusTestSupport
import Foundation
import Testing

/// security.md for a setgid apus run by an unprivileged user, with the system
/// configuration (`/etc/apus.conf`, `root:apustest 0640`) in a private mount
/// namespace: `passwordeval` keeps the group, the log file and the queue
/// directory are never created by the user, and spooling uses the queue
/// directory through the group.
@Suite(
    .serialized,
    .enabled(if: runningAsRoot && SetgidFixture.namespacesWork, "needs root and a private mount namespace"))
struct SetgidDetailsTests {
    static let input = message(["Subject: setgid details"])

    /// A directory `root:apustest` with `mode` in the fixture's directory.
    static func groupDirectory(_ fixture: SetgidFixture, _ name: String, mode: mode_t) throws -> String {
        let path = try fixture.directory.makeDirectory(name, mode: 0o700)
        guard chown(path, 0, fixture.groupID) == 0, chmod(path, mode) == 0 else {
            throw SetgidFixture.SetupError(description: "chown \(path)")
        }
        return path
    }

    static func systemConfig(port: UInt16, queue: String, extra: String = "") -> String {
        "host 127.0.0.1\nport \(port)\ntls off\ndomain test.example\ntimeout 3\nqueue_dir \(queue)\n" + extra
    }

    /// `passwordeval cat FILE`, FILE `root:apustest 0640`: the command reads it
    /// through the apus group (dash would drop the group without `-p`).
    @Test func passwordevalKeepsTheGroup() throws {
        let fixture = try SetgidFixture()
        defer { fixture.remove() }
        let secret = try fixture.writeGroupFile("relay-password", "pw-from-a-group-file\n", mode: 0o640)
        var configuration = ScriptableSMTPServer.Configuration()
        configuration.extensions.append("AUTH PLAIN")
        configuration.authenticate = AuthExchange.accepting(user: "alice", password: "pw-from-a-group-file")
        let server = try ScriptableSMTPServer(configuration)
        defer { server.stop() }
        let queue = try Self.groupDirectory(fixture, "queue", mode: 0o2770)
        let config = Self.systemConfig(
            port: server.port, queue: queue, extra: "log off\nauth plain\nuser alice\npasswordeval cat \(secret)\n")
        let result = try fixture.runWithSystemConfig(config, mode: "0640", ["rcpt@test.example"], input: Self.input)
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.summary)")
        #expect(server.waitForMessages(1).count == 1, "\(result.summary)")
    }

    /// The log file: a user never creates it (with -v apus says it cannot
    /// write it, and delivers); root creates it 0660 with the apus group; then
    /// the user's lines go into it.
    @Test func logFileIsCreatedOnlyByRoot() throws {
        let fixture = try SetgidFixture()
        defer { fixture.remove() }
        let server = try ScriptableSMTPServer()
        defer { server.stop() }
        let queue = try Self.groupDirectory(fixture, "queue", mode: 0o2770)
        let logs = try Self.groupDirectory(fixture, "logs", mode: 0o770)
        let log = logs + "/apus.log"
        let config = Self.systemConfig(port: server.port, queue: queue, extra: "log \(log)\n")

        let first = try fixture.runWithSystemConfig(
            config, mode: "0640", ["-v", "rcpt@test.example"], input: Self.input)
        #expect(first.status == 0, "\(first.summary)")
        #expect(server.waitForMessages(1).count == 1, "delivered all the same: \(first.summary)")
        #expect(!FileManager.default.fileExists(atPath: log), "the user created the log file")
        let warnings = first.stderrLines.filter { $0.contains("cannot write the log \(log)") }
        #expect(warnings.count == 1, "\(first.summary)")

        // Without -v, nothing is said.
        let quiet = try fixture.runWithSystemConfig(config, mode: "0640", ["rcpt@test.example"], input: Self.input)
        #expect(quiet.status == 0 && quiet.stderr.isEmpty, "\(quiet.summary)")

        // Root's run of the setgid binary creates it root:apustest 0660.
        let rootConfig = try fixture.writeGroupFile("root.conf", config, mode: 0o640)
        let byRoot = try Subprocess.run(
            fixture.binary, arguments: ["-C", rootConfig, "rcpt@test.example"], standardInput: Array(Self.input.utf8),
            timeout: 20)
        #expect(byRoot.status == 0, "\(byRoot.summary)")
        var info = stat()
        #expect(stat(log, &info) == 0, "root's run did not create the log")
        #expect(info.st_uid == 0 && info.st_gid == fixture.groupID, "owner \(info.st_uid):\(info.st_gid)")
        #expect(info.st_mode & 0o7777 == 0o660, "mode \(String(info.st_mode & 0o7777, radix: 8))")

        // Now the user's lines are written.
        let again = try fixture.runWithSystemConfig(
            config, mode: "0640", ["-v", "rcpt@test.example"], input: Self.input)
        #expect(again.status == 0, "\(again.summary)")
        #expect(!again.stderr.contains("cannot write the log"), "\(again.summary)")
        let lines = (try String(contentsOfFile: log, encoding: .utf8)).split(separator: "\n")
        #expect(lines.count == 2, "\(lines)")
    }

    /// A missing queue directory is not created by a user (exit 75, nothing
    /// made), and is created by root, root:apustest 2770.
    @Test func missingQueueDirectoryIsCreatedOnlyByRoot() throws {
        let fixture = try SetgidFixture()
        defer { fixture.remove() }
        let spool = try Self.groupDirectory(fixture, "spool", mode: 0o770)
        let queue = spool + "/queue"
        let config = Self.systemConfig(port: try freeLoopbackPort(), queue: queue, extra: "log off\n")
        let result = try fixture.runWithSystemConfig(config, mode: "0640", ["rcpt@test.example"], input: Self.input)
        #expect(result.status == 75, "\(result.summary)")
        #expect(result.stderrLines.count == 1 && result.stderr.contains(queue), "\(result.summary)")
        #expect(!FileManager.default.fileExists(atPath: queue), "the user created the queue directory")

        let rootConfig = try fixture.writeGroupFile("root.conf", config, mode: 0o640)
        let byRoot = try Subprocess.run(
            fixture.binary, arguments: ["-C", rootConfig, "rcpt@test.example"], standardInput: Array(Self.input.utf8),
            timeout: 20)
        #expect(byRoot.status == 0 && byRoot.stderr.contains("queued"), "\(byRoot.summary)")
        var info = stat()
        #expect(stat(queue, &info) == 0, "root's run did not create the queue directory")
        #expect(info.st_uid == 0 && info.st_gid == fixture.groupID, "owner \(info.st_uid):\(info.st_gid)")
        #expect(info.st_mode & 0o7777 == 0o2770, "mode \(String(info.st_mode & 0o7777, radix: 8))")
    }

    /// A large message (spooled to a file past 1 MiB) is spooled in the queue
    /// directory through the group, not in /tmp: with /tmp read-only it still goes.
    @Test func setgidRunSpoolsInTheQueueDirectory() throws {
        let fixture = try SetgidFixture()
        defer { fixture.remove() }
        let server = try ScriptableSMTPServer()
        defer { server.stop() }
        // The queue outside /tmp, which is made read-only for the run (the binary stays visible).
        let outside = try TemporaryDirectory(prefix: "apus-spool", in: "/var/tmp")
        let queue = outside.file("queue")
        #expect(chmod(outside.path, 0o755) == 0)
        #expect(mkdir(queue, 0o700) == 0 && chown(queue, 0, fixture.groupID) == 0 && chmod(queue, 0o2770) == 0)
        let config = Self.systemConfig(port: server.port, queue: queue, extra: "log off\n")
        let line = String(repeating: "x", count: 76) + "\n"
        let big = message(["Subject: big"], body: String(repeating: line, count: 30_000))
        let result = try fixture.runWithSystemConfig(
            config, mode: "0640", ["rcpt@test.example"], input: big,
            prelude: "mount --bind /tmp /tmp && mount -o remount,bind,ro /tmp")
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.summary)")
        #expect(server.waitForMessages(1).count == 1, "\(result.summary)")
    }
}
