import ApusTestSupport
import Foundation
import Testing

/// The test-support process runner the end-to-end tests rely on.
@Suite struct SubprocessTests {
    @Test func capturesOutputStatusAndInput() throws {
        let big = [UInt8](repeating: 65, count: 1 << 20)
        let cat = try Subprocess.run("/bin/cat", standardInput: big)
        #expect(cat.succeeded)
        #expect(cat.standardOutput == big)

        let sh = try Subprocess.run(
            "/bin/sh", arguments: ["-c", "echo out; echo err >&2; echo $APUS_X; pwd; exit 3"],
            environment: ["APUS_X": "value", "PATH": "/usr/bin:/bin"], workingDirectory: "/tmp")
        #expect(sh.status == 3)
        #expect(!sh.signaled)
        #expect(sh.stdout == "out\nvalue\n/tmp\n")
        #expect(sh.stderr == "err\n")
    }

    @Test func timeoutKills() throws {
        let start = Date()
        let result = try Subprocess.run("/bin/sleep", arguments: ["10"], timeout: 0.3)
        #expect(result.timedOut)
        #expect(result.signaled && result.status == SIGKILL)
        #expect(Date().timeIntervalSince(start) < 3)
    }

    @Test func childrenGetDefaultSignals() throws {
        // SIGTERM is neither blocked nor ignored in the child (Swift Testing's
        // threads block it, and Foundation's Process would pass that on).
        let result = try Subprocess.run("/bin/sh", arguments: ["-c", "kill -TERM $$; sleep 5"], timeout: 3)
        #expect(result.signaled && result.status == SIGTERM)
        #expect(!result.timedOut)
    }

    @Test func missingProgramThrows() {
        #expect(throws: SpawnError.self) { try Subprocess.run("/nonexistent/apus-nothing") }
    }

    @Test func temporaryDirectoryIsRemoved() throws {
        var path = ""
        do {
            let dir = try TemporaryDirectory()
            path = dir.path
            try dir.write("a/../b.txt".replacingOccurrences(of: "a/../", with: ""), "hi")
            #expect(try dir.read("b.txt") == Array("hi".utf8))
            #expect(try dir.contents() == ["b.txt"])
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
