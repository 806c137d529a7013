import ApusTestSupport
import Foundation
import Testing

/// The setgid model of security.md: a setgid copy of apus run by an
/// unprivileged user. Needs root (to make the copy and the user); serialized
/// because useradd/userdel lock /etc/passwd.
@Suite(.serialized, .enabled(if: runningAsRoot, "needs root to make a setgid copy and a test user"))
struct CommandPrivilegesTests {
    static let input = message(["Subject: setgid"])

    /// `-C` on a file only the group may read: the group is dropped before reading, so it fails.
    @Test func configReadableOnlyByTheGroupIsRefused() throws {
        let fixture = try SetgidFixture()
        defer { fixture.remove() }
        let config = try fixture.writeGroupFile("group-only.conf", "host 127.0.0.1\n", mode: 0o640)
        let result = try fixture.run(["-C", config, "-bv"])
        #expect(result.status == 78, "\(result.summary)")
        #expect(result.stderrLines.count == 1, "\(result.summary)")
        #expect(result.stderr.contains(config) && result.stderr.contains("Permission denied"), "\(result.summary)")
        // The same file is readable by root's apus (no group drop needed): the refusal is the drop.
        let other = try fixture.writeUserFile("own.conf", "host 127.0.0.1\nport 1\ntimeout 1\n")
        let own = try fixture.run(["-C", other, "-bv"])
        #expect(own.status == 69, "a user's own -C file is read: \(own.summary)")
    }

    @Test func queueRunsWithSelectionNeedRoot() throws {
        let fixture = try SetgidFixture()
        defer { fixture.remove() }
        for arguments in [["-qf"], ["-qI", "ABC"], ["-qRexample.com"], ["-qS", "bob"]] {
            let result = try fixture.run(arguments)
            #expect(result.status == 77, "\(arguments): \(result.summary)")
            #expect(result.stderrLines.count == 1, "\(result.summary)")
            #expect(result.stderr.hasPrefix("apus: "))
        }
        let queue = fixture.directory.file("queue")
        let config = try fixture.writeUserFile("q.conf", "queue_dir \(queue)\nlog off\n")
        let plain = try fixture.run(["-C", config, "-q"])
        #expect(plain.status == 0, "any user may run -q: \(plain.summary)")
    }

    /// `-X FILE` is opened as the caller: the user's group, mode 0600, no symlinks,
    /// and not a file only the apus group may write.
    @Test(.enabled(if: SetgidFixture.namespacesWork, "no private mount namespace (unshare/overlay) here"))
    func traceFileIsTheCallersOwn() throws {
        let fixture = try SetgidFixture()
        defer { fixture.remove() }
        let system = "host 127.0.0.1\nport \(try freeLoopbackPort())\ntimeout 1\nlog off\n"
        let trace = fixture.home + "/trace.log"
        let result = try fixture.runWithSystemConfig(system, mode: "0640", ["-X", trace, "-bv"])
        #expect(result.status == 69, "\(result.summary)")
        var info = stat()
        #expect(stat(trace, &info) == 0, "the -X file was not created: \(result.summary)")
        #expect(info.st_uid == fixture.uid)
        #expect(info.st_gid == fixture.gid, "group \(info.st_gid), not the user's \(fixture.gid)")
        #expect(info.st_mode & 0o7777 == 0o600)

        // A symlink is refused (O_NOFOLLOW), and its target is not created.
        let target = fixture.home + "/target.log"
        let link = fixture.home + "/link.log"
        #expect(symlink(target, link) == 0)
        _ = lchown(link, fixture.uid, fixture.gid)
        let viaLink = try fixture.runWithSystemConfig(system, mode: "0640", ["-X", link, "-bv"])
        #expect(viaLink.status != 0, "\(viaLink.summary)")
        #expect(viaLink.stderrLines.count == 1, "\(viaLink.summary)")
        #expect(viaLink.stderr.contains(link), "\(viaLink.summary)")
        #expect(!FileManager.default.fileExists(atPath: target))

        // A file only the apus group may write is not reachable through the group.
        let groupFile = fixture.directory.file("group-trace.log")
        try "".write(toFile: groupFile, atomically: false, encoding: .utf8)
        #expect(chown(groupFile, 0, fixture.groupID) == 0 && chmod(groupFile, 0o660) == 0)
        let viaGroup = try fixture.runWithSystemConfig(system, mode: "0640", ["-X", groupFile, "-bv"])
        #expect(viaGroup.status != 0, "\(viaGroup.summary)")
        #expect(viaGroup.stderr.contains("Permission denied"), "\(viaGroup.summary)")
        #expect(try String(contentsOfFile: groupFile, encoding: .utf8).isEmpty)
    }

    /// The system file is read through the group; one holding `password` that
    /// "other" can read is refused.
    @Test(.enabled(if: SetgidFixture.namespacesWork, "no private mount namespace (unshare/overlay) here"))
    func systemConfigWithAnExposedPasswordIsRefused() throws {
        let fixture = try SetgidFixture()
        defer { fixture.remove() }
        let server = try authServer(user: "sys", password: "system-Pa55")
        defer { server.stop() }
        let system = "host 127.0.0.1\nport \(server.port)\ntimeout 3\nuser sys\npassword system-Pa55\nlog off\n"
        let exposed = try fixture.runWithSystemConfig(system, mode: "0644", ["-bv"])
        #expect(exposed.status == 78, "\(exposed.summary)")
        #expect(exposed.stderrLines.count == 1, "\(exposed.summary)")
        #expect(exposed.stderr.contains("/etc/apus.conf"), "\(exposed.summary)")
        #expect(!exposed.stderr.contains("system-Pa55"))
        #expect(server.connections.isEmpty)

        // 0640 root:apustest: only the group reads it, and the setgid apus does.
        let guarded = try fixture.runWithSystemConfig(system, mode: "0640", ["-bv"])
        #expect(guarded.status == 0, "\(guarded.summary)")
        #expect(guarded.stdout.contains("auth: accepted for sys"), "\(guarded.summary)")
        // Without the setgid bit the user cannot read it at all.
        #expect(chmod(fixture.binary, 0o755) == 0)
        let plain = try fixture.runWithSystemConfig(system, mode: "0640", ["-bv"])
        #expect(plain.status == 78, "\(plain.summary)")
    }

    /// Running setgid, the environment is cut to HOME, USER/LOGNAME, TZ, LANG
    /// and a safe PATH: what `passwordeval` sees.
    @Test func environmentIsCleaned() throws {
        let fixture = try SetgidFixture()
        defer { fixture.remove() }
        let server = try authServer(user: "u", password: "from-eval")
        defer { server.stop() }
        let output = fixture.home + "/env.out"
        let config = try fixture.writeUserFile(
            "env.conf",
            "host 127.0.0.1\nport \(server.port)\ntimeout 3\nuser u\npasswordeval env > \(output); echo from-eval\nlog off\n"
        )
        let result = try fixture.run(
            ["-C", config, "-bv"],
            variables: [
                "APUS_SECRET_TEST": "leak", "PATH": "/tmp/evil:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "Europe/Paris",
                "LD_LIBRARY_PATH": "/tmp/evil", "IFS": "x", "MAILRC": "/tmp/evil",
            ])
        #expect(result.status == 0, "\(result.summary)")
        let text = try String(contentsOfFile: output, encoding: .utf8)
        var seen: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            seen[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        #expect(seen["APUS_SECRET_TEST"] == nil && seen["LD_LIBRARY_PATH"] == nil && seen["MAILRC"] == nil, "\(seen)")
        #expect(seen["PATH"] == "/usr/bin:/bin", "\(seen)")
        #expect(seen["LANG"] == "C.UTF-8" && seen["TZ"] == "Europe/Paris", "\(seen)")
        #expect(seen["USER"] == fixture.user || seen["LOGNAME"] == fixture.user, "\(seen)")
        let allowed: Set<String> = ["HOME", "USER", "LOGNAME", "TZ", "LANG", "PATH", "PWD", "SHLVL", "_", "OLDPWD"]
        #expect(Set(seen.keys).isSubset(of: allowed), "\(seen.keys.sorted())")
    }

    /// A message from the user, through the setgid apus, goes out with the
    /// user's identity (from the real uid, not the environment).
    @Test func senderComesFromTheRealUID() throws {
        let fixture = try SetgidFixture()
        defer { fixture.remove() }
        let sink = try SMTPSink()
        let config = try fixture.writeUserFile(
            "send.conf", "host 127.0.0.1\nport \(sink.port)\ndomain test.example\ntimeout 3\nlog off\n")
        let result = try fixture.run(
            ["-C", config, "a@y.example"], input: Self.input, variables: ["USER": "root", "LOGNAME": "root"])
        #expect(result.status == 0, "\(result.summary)")
        let saved = try #require(try sink.waitForMessages(1).first)
        #expect(saved.sender == "\(fixture.user)@test.example")
    }
}
