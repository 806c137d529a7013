import ApusTestSupport
import Foundation
import Testing

/// A setgid copy of apus and an unprivileged user to run it as (security.md),
/// for tests running as root. The user is removed by ``remove()``.
///
/// - The group is `apustest` (`groupadd --system` when missing), standing in
///   for the installed `apus` group; the copy is `root:apustest 2755`.
/// - The user gets a fresh name and a private directory `home` in the
///   fixture's directory (mode 0755 so the user can reach the binary).
final class SetgidFixture: @unchecked Sendable {
    static let group = "apustest"

    let directory: TemporaryDirectory
    let user: String
    let binary: String
    let home: String
    let uid: uid_t
    let gid: gid_t
    let groupID: gid_t

    init() throws {
        directory = try TemporaryDirectory(prefix: "apus-setgid")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        if getgrnam(Self.group) == nil {
            try Self.must(["/usr/sbin/groupadd", "--system", Self.group])
        }
        groupID = try #require(getgrnam(Self.group)).pointee.gr_gid
        user = "apus-e2e-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try Self.must([
            "/usr/sbin/useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", user,
        ])
        let entry = try #require(getpwnam(user))
        uid = entry.pointee.pw_uid
        gid = entry.pointee.pw_gid
        binary = directory.file("apus")
        // Copied by a child process: a descriptor open for writing in this
        // process could leak into a concurrent test's fork and make exec fail
        // with "Text file busy".
        try Self.must(["/bin/cp", try ApusExecutable.path(), binary])
        guard chown(binary, 0, groupID) == 0, chmod(binary, 0o2755) == 0 else {
            throw SetupError(description: "cannot make \(binary) setgid: \(String(cString: strerror(errno)))")
        }
        home = try directory.makeDirectory("home", mode: 0o700)
        guard chown(home, uid, gid) == 0 else { throw SetupError(description: "cannot chown \(home)") }
    }

    struct SetupError: Error, CustomStringConvertible {
        var description: String
    }

    /// Removes the user (and its group).
    func remove() {
        _ = try? Subprocess.run("/usr/sbin/userdel", arguments: [user], timeout: 20)
    }

    /// Runs `command`, retrying while another suite's useradd/userdel holds
    /// the lock on /etc/passwd (suites with fixtures may run in parallel).
    static func must(_ command: [String]) throws {
        var result = try Subprocess.run(command[0], arguments: Array(command.dropFirst()), timeout: 20)
        var tries = 1
        while result.status != 0 && result.stderr.contains("lock") && tries < 50 {
            usleep(100_000)
            result = try Subprocess.run(command[0], arguments: Array(command.dropFirst()), timeout: 20)
            tries += 1
        }
        guard result.status == 0 else {
            throw SetupError(description: "\(command.joined(separator: " ")): \(result.stderr)")
        }
    }

    /// Writes a file in the user's directory, owned by the user.
    @discardableResult
    func writeUserFile(_ name: String, _ text: String, mode: mode_t = 0o600) throws -> String {
        let path = home + "/" + name
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        guard chown(path, uid, gid) == 0, chmod(path, mode) == 0 else { throw SetupError(description: "chown \(path)") }
        return path
    }

    /// Writes a file owned by `root:apustest` with `mode`.
    @discardableResult
    func writeGroupFile(_ name: String, _ text: String, mode: mode_t = 0o640) throws -> String {
        let path = directory.file(name)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        guard chown(path, 0, groupID) == 0, chmod(path, mode) == 0 else {
            throw SetupError(description: "chown \(path)")
        }
        return path
    }

    /// Runs the setgid apus as the user: `runuser -u USER -- env VARS apus ARGS`.
    func run(
        _ arguments: [String], input: String = "", variables: [String: String] = [:], timeout: Double = 20
    ) throws -> SubprocessResult {
        let assignments = variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return try Subprocess.run(
            "/usr/sbin/runuser", arguments: ["-u", user, "--", "/usr/bin/env"] + assignments + [binary] + arguments,
            standardInput: Array(input.utf8), workingDirectory: home, timeout: timeout)
    }

    /// Runs the setgid apus as the user with `/etc/apus.conf` replaced by
    /// `systemConfig` (owner `root:apustest`, `mode`) in a private mount
    /// namespace: an overlay on /etc seen by that process tree only.
    /// `prelude`: more shell commands run as root in that namespace first
    /// (for example a read-only tmpfs over /tmp).
    func runWithSystemConfig(
        _ systemConfig: String, mode: String, _ arguments: [String], input: String = "", prelude: String = "",
        timeout: Double = 20
    ) throws -> SubprocessResult {
        let source = directory.file("system-apus.conf")
        try systemConfig.write(toFile: source, atomically: false, encoding: .utf8)
        // The merged /etc takes the upper directory's mode: 0755, or users could not enter /etc.
        let upper = try directory.makeDirectory("overlay/upper", mode: 0o755)
        let work = try directory.makeDirectory("overlay/work", mode: 0o755)
        let script = """
            set -e
            mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc
            cp "$3" /etc/apus.conf
            chown root:\(Self.group) /etc/apus.conf
            chmod "$4" /etc/apus.conf
            \(prelude)
            shift 4
            exec /usr/sbin/runuser -u "$@"
            """
        return try Subprocess.run(
            "/usr/bin/unshare",
            arguments: [
                "--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh", upper, work, source, mode, user,
                "--", binary,
            ] + arguments,
            standardInput: Array(input.utf8), workingDirectory: home, timeout: timeout)
    }

    /// Whether a private mount namespace with an overlay on /etc can be made here.
    static let namespacesWork: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
        guard let probe = try? TemporaryDirectory(prefix: "apus-overlay-probe"),
            let upper = try? probe.makeDirectory("u"), let work = try? probe.makeDirectory("w"),
            let result = try? Subprocess.run(
                "/usr/bin/unshare",
                arguments: [
                    "--mount", "--propagation", "private", "/bin/sh", "-c",
                    "mount -t overlay overlay -o lowerdir=/etc,upperdir=\(upper),workdir=\(work) /etc",
                ], timeout: 10)
        else { return false }
        return result.status == 0
    }()
}
