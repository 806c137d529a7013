import ApusTestSupport
import Foundation
import Testing

/// security.md "Hostile input": apus works without `/proc` (a chroot): its
/// arguments never depend on it, nor does the relay owner check. `/proc` is hidden by an empty tmpfs in a private mount
/// namespace of the apus process only.
@Suite(.enabled(if: runningAsRoot && SetgidFixture.namespacesWork, "needs root and a private mount namespace"))
struct NoProcTests {
    /// Runs apus `arguments` with an empty /proc.
    static func runWithoutProc(_ arguments: [String], input: String = "") throws -> SubprocessResult {
        let script = "mount -t tmpfs none /proc && exec \"$@\""
        return try Subprocess.run(
            "/usr/bin/unshare",
            arguments: [
                "--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh", try ApusExecutable.path(),
            ]
                + arguments,
            standardInput: Array(input.utf8), timeout: 20)
    }

    @Test func versionAndMailqWork() throws {
        let version = try Self.runWithoutProc(["--version"])
        #expect(version.status == 0, "\(version.summary)")
        #expect(version.stdout.hasPrefix("apus "), "\(version.summary)")
        let sandbox = try ApusSandbox(refusing: "")
        let mailq = try Self.runWithoutProc(["-C", sandbox.configPath, "-bp"])
        #expect(mailq.status == 0, "\(mailq.summary)")
        #expect(mailq.stderr.isEmpty, "\(mailq.summary)")
    }

    /// A submission works, the relay owner check included: it asks the
    /// kernel through sock_diag, not /proc/net (root's listener here).
    @Test func submissionWorks() throws {
        let server = try ScriptableSMTPServer()
        defer { server.stop() }
        let sandbox = try ApusSandbox(port: server.port)
        let result = try Self.runWithoutProc(
            ["-C", sandbox.configPath, "rcpt@test.example"], input: message(["Subject: no proc"]))
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.summary)")
        #expect(server.waitForMessages(1).count == 1)
        #expect(sandbox.queueFiles().isEmpty)
    }
}
