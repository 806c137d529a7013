import Foundation
import Testing

/// The files around the program: man pages lint clean, install.sh parses and
/// answers --help, the config template covers every key. (The real DESTDIR
/// install runs in CI's interop stage, not here: it needs root and a build.)
@Suite struct InstallTests {
    /// The package root: three levels above this file (Tests/ApusEndToEndTests/InstallTests.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static let manPages = ["man/apus.8", "man/apus.conf.5", "man/mailq.1"]

    /// Every key of config.md, and the section words.
    static let configKeys = [
        "host", "port", "fallback", "tls", "tls_verify", "tls_trust_file", "tls_fingerprint",
        "tls_cert_file", "tls_key_file", "tls_min_version", "auth", "user", "password",
        "passwordeval", "password_file", "from", "domain", "default_domain", "aliases",
        "from_header", "allow_from_override", "timeout", "queue", "queue_dir", "queue_lifetime",
        "retry", "bounce", "log", "dsn_notify", "dsn_return", "eight_bit", "oauth2_token_url", "oauth2_grant",
        "oauth2_client_id", "oauth2_client_secret", "oauth2_client_secret_file", "oauth2_scope",
        "oauth2_refresh_token_file", "oauth2_private_key_file", "oauth2_subject", "message_size_limit",
        "recipient_limit",
    ]

    struct Run {
        var status: Int32
        var output: String
    }

    /// Runs `arguments` (found on PATH) in the package root; stdout and stderr together.
    static func run(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = root
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    static func installed(_ program: String) -> Bool {
        ["/usr/bin/", "/bin/", "/usr/local/bin/"].contains {
            FileManager.default.isExecutableFile(atPath: $0 + program)
        }
    }

    @Test func manPagesLintCleanWithMandoc() throws {
        try #require(Self.installed("mandoc"), "mandoc is missing (./test.sh installs it)")
        let run = try Self.run(["mandoc", "-T", "lint"] + Self.manPages)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.isEmpty, "\(run.output)")
    }

    @Test(.enabled(if: InstallTests.installed("groff"), "groff is not installed"))
    func manPagesLintCleanWithGroff() throws {
        let run = try Self.run(["groff", "-man", "-ww", "-z"] + Self.manPages)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.isEmpty, "\(run.output)")
    }

    @Test func manPageNamesEveryProgramAndConfigKey() throws {
        let apus = try String(contentsOf: Self.root.appendingPathComponent("man/apus.8"), encoding: .utf8)
        #expect(apus.contains("apus, sendmail, mailq, newaliases \\- "))
        let conf = try String(contentsOf: Self.root.appendingPathComponent("man/apus.conf.5"), encoding: .utf8)
        // The words of the tag lines (the line after each .TP) are the keys described.
        let lines = conf.split(separator: "\n", omittingEmptySubsequences: false)
        var described: Set<String> = []
        for (index, line) in lines.enumerated() where line == ".TP" && index + 1 < lines.count {
            let words = lines[index + 1].split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") })
            described.formUnion(words.map(String.init))
        }
        for key in Self.configKeys {
            #expect(described.contains(key), "apus.conf.5 has no .TP entry for \(key)")
        }
    }

    @Test func installScriptParses() throws {
        let run = try Self.run(["bash", "-n", "install.sh"])
        #expect(run.status == 0, "\(run.output)")
    }

    @Test func installScriptHelp() throws {
        let run = try Self.run(["bash", "install.sh", "--help"])
        #expect(run.status == 0, "\(run.output)")
        for option in [
            "--prefix", "--destdir", "--system-sendmail", "--no-build", "--uninstall", "--purge", "--no-deb", "--deb",
            "--replace-mta",
        ] {
            #expect(run.output.contains(option), "--help does not mention \(option)")
        }
        let bad = try Self.run(["bash", "install.sh", "--no-such-option"])
        #expect(bad.status == 1)
        #expect(bad.output.contains("unknown option --no-such-option"))
    }

    @Test func configTemplateListsEveryKey() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("packaging/apus.conf"), encoding: .utf8)
        let commented = Set(
            text.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("#"), let word = line.dropFirst().split(separator: " ").first else { return nil }
                return String(word)
            })
        for key in Self.configKeys {
            #expect(commented.contains(key), "packaging/apus.conf has no commented \(key) line")
        }
        // Nothing is set: an installed template behaves like no file at all.
        let active = text.split(separator: "\n").filter {
            let trimmed = $0.drop(while: { $0 == " " || $0 == "\t" })
            return !trimmed.isEmpty && !trimmed.hasPrefix("#")
        }
        #expect(active.isEmpty, "packaging/apus.conf sets \(active)")
    }

    @Test func packagingScriptsParse() throws {
        for script in ["packaging/build-deb", "packaging/build-release", "packaging/version", "packaging/test-deb"] {
            let run = try Self.run(["bash", "-n", script])
            #expect(run.status == 0, "\(script): \(run.output)")
        }
        // Maintainer scripts run with /bin/sh (dash on Debian): POSIX sh only.
        for script in ["postinst", "prerm", "postrm"] {
            let run = try Self.run(["sh", "-n", "packaging/debian/" + script])
            #expect(run.status == 0, "\(script): \(run.output)")
        }
    }

    @Test func packageVersionIsAValidDebianVersion() throws {
        let run = try Self.run(["packaging/version"])
        #expect(run.status == 0, "\(run.output)")
        let version = run.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(version.hasPrefix("0.") || version.first?.isNumber == true, "\(version)")
        #expect(version.hasSuffix("-1"), "\(version)")
        let check = try Self.run(["dpkg", "--validate-version", version])
        #expect(check.status == 0, "\(version): \(check.output)")
    }

    /// packaging/build-deb around a stand-in binary (/bin/true): the control
    /// fields, conffiles and files of packaging.md, without root or a release build.
    @Test(.enabled(if: InstallTests.installed("dpkg-deb"), "dpkg-deb is not installed"))
    func debianPackageHasTheControlFieldsAndFiles() throws {
        let dist = FileManager.default.temporaryDirectory.appendingPathComponent("apus-build-deb-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dist) }
        let build = try Self.run(["packaging/build-deb", "--binary", "/bin/true", "--dist", dist.path])
        #expect(build.status == 0, "\(build.output)")
        let deb = try #require(build.output.split(separator: "\n").last.map(String.init))
        #expect(deb.hasPrefix(dist.path + "/apus_") && deb.hasSuffix(".deb"), "\(deb)")

        let fields = try Self.run(["dpkg-deb", "--field", deb])
        for line in [
            "Package: apus", "Provides: mail-transport-agent", "Conflicts: mail-transport-agent",
            "Replaces: mail-transport-agent", "Section: mail", "Priority: optional",
        ] {
            #expect(fields.output.contains(line + "\n"), "control has no '\(line)':\n\(fields.output)")
        }
        let depends = fields.output.split(separator: "\n").first { $0.hasPrefix("Depends: ") }.map(String.init) ?? ""
        for package in ["libc6", "libssl3", "ca-certificates"] {
            #expect(depends.contains(package), "\(depends)")
        }
        let conffiles = try Self.run(["sh", "-c", "dpkg-deb --ctrl-tarfile \"$1\" | tar -xOf - ./conffiles", "sh", deb])
        #expect(conffiles.output == "/etc/apus.conf\n/etc/cron.d/apus\n", "\(conffiles.output)")

        let contents = try Self.run(["dpkg-deb", "--contents", deb]).output
        for entry in [
            "./usr/sbin/apus", "./usr/sbin/sendmail -> apus", "./usr/bin/mailq -> ../sbin/apus",
            "./usr/bin/newaliases -> ../sbin/apus", "./usr/share/man/man8/apus.8.gz",
            "./usr/share/man/man5/apus.conf.5.gz", "./usr/share/man/man1/mailq.1.gz",
            "./usr/share/man/man8/sendmail.8.gz -> apus.8.gz", "./usr/share/man/man8/newaliases.8.gz -> apus.8.gz",
            "./etc/apus.conf", "./etc/cron.d/apus", "./var/spool/apus/", "./lib/systemd/system/apus-queue.service",
            "./lib/systemd/system/apus-queue.timer", "./usr/share/doc/apus/copyright",
            "./usr/share/doc/apus/changelog.Debian.gz",
        ] {
            #expect(contents.contains(entry + "\n"), "the package has no \(entry)")
        }
        // Nothing in the archive belongs to anyone but root; modes come from postinst.
        for line in contents.split(separator: "\n") {
            #expect(line.contains(" root/root "), "\(line)")
        }
        let unit = try Self.run([
            "sh", "-c", "dpkg-deb --fsys-tarfile \"$1\" | tar -xOf - ./lib/systemd/system/apus-queue.service", "sh",
            deb,
        ])
        #expect(unit.output.contains("ExecStart=/usr/sbin/apus -q"), "\(unit.output)")
    }

    @Test func packageCronEntryStandsBackForSystemd() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("packaging/debian/cron.d"), encoding: .utf8)
        let entry = try #require(text.split(separator: "\n").first { $0.hasPrefix("*/5 ") })
        #expect(entry.contains("[ ! -d /run/systemd/system ]"), "\(entry)")
        #expect(entry.hasSuffix("/usr/sbin/apus -q"), "\(entry)")
    }

    @Test func scheduleFilesRunTheQueue() throws {
        for name in ["packaging/apus-queue.service", "packaging/apus.cron"] {
            let text = try String(contentsOf: Self.root.appendingPathComponent(name), encoding: .utf8)
            #expect(text.contains("@SBINDIR@/apus -q"), "\(name) does not run @SBINDIR@/apus -q")
        }
        let timer = try String(
            contentsOf: Self.root.appendingPathComponent("packaging/apus-queue.timer"), encoding: .utf8)
        #expect(timer.contains("OnCalendar=*:0/5"))
        #expect(timer.contains("WantedBy=timers.target"))
    }
}
