import ApusConfig
import ApusDelivery
import ApusTestSupport
import Foundation
import Testing

struct PasswordSourceTests {
    @Test(arguments: [
        ("echo secret", "secret"),
        ("printf 'first\\nsecond\\n'", "first"),
        ("printf 'crlf\\r\\n'", "crlf"),
        ("printf 'no newline'", "no newline"),
        ("echo \"$PATH\"", "/usr/bin:/bin"),
        ("read line; echo \"got:$line\"", "got:"),
        ("echo out; echo err >&2", "out"),
    ])
    func passwordevalFirstLine(command: String, expected: String) throws {
        #expect(try PasswordSource.command(command).retrieve(timeout: 10) == expected)
    }

    @Test(arguments: [
        ("exit 3", PasswordError.Kind.commandFailed, "exited with status 3"),
        ("echo secret-output; exit 1", .commandFailed, "exited with status 1"),
        ("kill -TERM $$", .commandFailed, "killed by signal 15"),
        ("true", .empty, "empty first line"),
        ("printf '\\nsecond\\n'", .empty, "empty first line"),
        ("/nonexistent/command-xyz", .commandFailed, "status 127"),
        ("head -c 70000 /dev/zero | tr '\\\\0' a", .outputTooLong, "64 KiB"),
    ])
    func passwordevalFailures(command: String, kind: PasswordError.Kind, message: String) {
        #expect {
            _ = try PasswordSource.command(command).retrieve(timeout: 10)
        } throws: { error in
            guard let error = error as? PasswordError else { return false }
            return error.kind == kind && error.description.contains(message)
                && !error.description.contains("secret-output")
        }
    }

    @Test func passwordevalTimesOutAndKillsTheGroup() {
        let start = Date()
        #expect {
            _ = try PasswordSource.command("sleep 30; echo late").retrieve(timeout: 0.5)
        } throws: { error in
            (error as? PasswordError)?.kind == .timedOut
        }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func passwordFileFirstLine() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("pw", "s3cret\r\nignored\n", mode: 0o600)
        #expect(try PasswordSource.file(path).retrieve() == "s3cret")
        let empty = try dir.write("empty", "", mode: 0o600)
        #expect {
            _ = try PasswordSource.file(empty).retrieve()
        } throws: { error in (error as? PasswordError)?.kind == .empty }
        #expect {
            _ = try PasswordSource.file(dir.path + "/missing").retrieve()
        } throws: { error in
            (error as? PasswordError)?.description == "password_file \(dir.path)/missing: No such file or directory"
        }
        #expect {
            _ = try PasswordSource.file(dir.path).retrieve()
        } throws: { error in (error as? PasswordError)?.kind == .unreadable }
    }

    @Test func literalAndNone() throws {
        #expect(try PasswordSource.literal("x y").retrieve() == "x y")
        #expect(try PasswordSource.none.retrieve() == nil)
        #expect(!PasswordSource.none.isConfigured)
        #expect(PasswordSource.literal("hunter2").description == "password (set)")
        #expect(PasswordSource.command("echo hunter2").description == "passwordeval (set)")
    }

    @Test func accountRetrievesThroughItsSource() throws {
        let c = try Configuration.parse(
            Array("user u\npasswordeval echo from-eval".utf8), file: "/etc/apus.conf",
            localDomain: { "host.example.net" })
        #expect(try c.defaultAccount.retrievePassword() == "from-eval")
    }
}
