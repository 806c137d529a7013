import ApusTestSupport
import Foundation
import Testing

/// Real clients → apus as `sendmail` → a real Postfix (private instance on
/// loopback, STARTTLS and Cyrus SASL), checking what Postfix delivered:
/// envelope (Return-Path, Delivered-To), headers and body byte for byte.
///
/// The binary is the one the tests built, or — in CI's interop stage — the
/// one install.sh installed: `APUS_INTEROP_BINARY=DESTDIR/usr/local/sbin/apus`.
/// Clients call a `sendmail` wrapper that adds `-C` (a test cannot replace
/// /etc/apus.conf), exactly as they would call /usr/sbin/sendmail.
struct NotDelivered: Error { var marker: String }

@Suite(.serialized) struct InteropTests {
    /// Unlimited mailbox size goes with Postfix's unlimited message size.
    static var options: PostfixServer.Options {
        var options = PostfixServer.Options()
        options.extraMainSettings.append("virtual_mailbox_limit = 0")
        // Deliver headers as apus sent them (no canonicalisation of local clients' headers).
        options.extraMainSettings.append("local_header_rewrite_clients =")
        return options
    }

    static func binary() throws -> String {
        if let installed = ProcessInfo.processInfo.environment["APUS_INTEROP_BINARY"], !installed.isEmpty {
            return installed
        }
        return try ApusExecutable.path()
    }

    /// A temp dir with apus.conf for `postfix` and a `sendmail` wrapper.
    struct Client {
        let directory: TemporaryDirectory
        let sendmail: String
        let config: String

        init(postfix: PostfixServer, implicitTLS: Bool = false) throws {
            directory = try TemporaryDirectory(prefix: "apus-interop")
            let queue = try directory.makeDirectory("queue", mode: 0o700)
            let user = postfix.users[0]
            config = try directory.write(
                "apus.conf",
                """
                queue_dir \(queue)
                log \(directory.file("log"))
                host localhost
                port \(implicitTLS ? postfix.implicitTLSPort : postfix.submissionPort)
                tls \(implicitTLS ? "on" : "starttls")
                tls_trust_file \(postfix.certificates.caFile)
                auth on
                user \(user.name)
                password "\(user.password)"
                domain client.example
                default_domain example.com
                timeout 10

                """)
            let binary = try InteropTests.binary()
            sendmail = try directory.write(
                "sendmail", "#!/bin/sh\nexec '\(binary)' -C '\(config)' \"$@\"\n", mode: 0o755)
        }

        /// Runs a command with the wrapper's directory first on PATH.
        func run(_ executable: String, _ arguments: [String], input: String, environment: [String: String] = [:])
            throws -> SubprocessResult
        {
            var env = ProcessInfo.processInfo.environment
            env["PATH"] = directory.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
            for (k, v) in environment { env[k] = v }
            return try Subprocess.run(
                executable, arguments: arguments, environment: env, standardInput: Array(input.utf8),
                workingDirectory: directory.path, timeout: 60)
        }
    }

    static func message(_ postfix: PostfixServer, containing marker: String) throws -> PostfixServer.DeliveredMessage {
        try messages(postfix, containing: marker, count: 1)[0]
    }

    /// Waits until Postfix has delivered `count` copies holding `marker`
    /// (one per recipient: its virtual agent writes them one after another).
    static func messages(
        _ postfix: PostfixServer, containing marker: String, count: Int
    ) throws -> [PostfixServer.DeliveredMessage] {
        let deadline = Date(timeIntervalSinceNow: 20)
        while Date() < deadline {
            let found = try postfix.deliveredMessages().filter { $0.text.contains(marker) }
            if found.count >= count { return found }
            usleep(100_000)
        }
        Issue.record(
            "fewer than \(count) delivered messages contain \(marker); Postfix log:\n\(postfix.log().suffix(2000))")
        throw NotDelivered(marker: marker)
    }

    /// The body of a delivered file: everything after the first empty line.
    static func body(_ message: PostfixServer.DeliveredMessage) -> String {
        guard let range = message.text.range(of: "\n\n") else { return "" }
        return String(message.text[range.upperBound...])
    }

    @Test func realClientsThroughSTARTTLSAndAUTH() throws {
        let postfix = try PostfixServer.start(InteropTests.options)
        defer { postfix.stop() }
        let client = try Client(postfix: postfix)

        // Debian cron's exact argv and message shape.
        let cronBody = "backup done\n  indented line\n.leading dot\n\n\ttab and trailing space \nlast\n"
        let cron = try client.run(
            client.sendmail, ["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"],
            input: """
                From: root (Cron Daemon)
                To: root
                Subject: Cron <root@host> /usr/local/bin/backup marker-cron
                MIME-Version: 1.0
                Content-Type: text/plain; charset=UTF-8
                Content-Transfer-Encoding: 8bit
                X-Cron-Env: <SHELL=/bin/sh>
                X-Cron-Env: <HOME=/root>

                \(cronBody)
                """)
        #expect(cron.status == 0, "cron argv: \(cron.stderr)")
        #expect(cron.stderr.isEmpty, "nothing on stderr on success: \(cron.stderr)")
        let cronMail = try Self.message(postfix, containing: "marker-cron")
        #expect(cronMail.headerValues("Delivered-To") == ["root@example.com"])
        #expect(cronMail.headerValues("Return-Path") == ["<root@client.example>"])
        #expect(cronMail.header("Received", contains: "using TLS"))
        #expect(cronMail.header("Received", contains: "Authenticated sender: alice"))
        #expect(
            cronMail.headerValues("From") == ["root@client.example (Cron Daemon)"],
            "an existing From: is kept, its address qualified with domain")
        #expect(cronMail.headerValues("To") == ["root@example.com"], "qualified with default_domain")
        #expect(cronMail.headerValues("Date").count == 1)
        #expect(cronMail.headerValues("Message-ID").first?.hasSuffix("@client.example>") == true)
        #expect(cronMail.headerValues("X-Cron-Env") == ["<SHELL=/bin/sh>", "<HOME=/root>"])
        #expect(Self.body(cronMail) == cronBody, "body byte for byte")

        // s-nail, as users run it (mta= points at sendmail).
        let snail = try client.run(
            "/usr/bin/s-nail",
            [
                "-n", "-S", "mta=\(client.sendmail)", "-S", "sendwait", "-r", "alice@example.net", "-s",
                "marker-snail subject", "bob@example.com",
            ],
            input: "Hello from s-nail.\n", environment: ["MAILRC": "/dev/null", "HOME": client.directory.path])
        #expect(snail.status == 0, "s-nail: \(snail.stderr)")
        let snailMail = try Self.message(postfix, containing: "marker-snail")
        #expect(snailMail.headerValues("Return-Path") == ["<alice@example.net>"])
        #expect(snailMail.headerValues("Delivered-To") == ["bob@example.com"])
        #expect(Self.body(snailMail) == "Hello from s-nail.\n")

        // bsd-mailx, through its sendmail variable.
        let mailrc = try client.directory.write("mailrc", "set sendmail=\(client.sendmail)\n")
        let mailx = try client.run(
            "/usr/bin/bsd-mailx", ["-s", "marker-mailx subject", "carol@example.com"],
            input: "Hello from mailx.\n", environment: ["MAILRC": mailrc, "HOME": client.directory.path])
        #expect(mailx.status == 0, "bsd-mailx: \(mailx.stderr)")
        let mailxMail = try Self.message(postfix, containing: "marker-mailx")
        #expect(mailxMail.headerValues("Delivered-To") == ["carol@example.com"])
        #expect(Self.body(mailxMail) == "Hello from mailx.\n")

        // git send-email with a real patch.
        let repo = try client.directory.makeDirectory("repo", mode: 0o755)
        let git: ([String]) throws -> SubprocessResult = { args in
            try client.run(
                "/usr/bin/git", ["-C", repo] + args, input: "",
                environment: [
                    "GIT_AUTHOR_NAME": "Dev One", "GIT_AUTHOR_EMAIL": "dev@example.net",
                    "GIT_COMMITTER_NAME": "Dev One", "GIT_COMMITTER_EMAIL": "dev@example.net",
                    "HOME": client.directory.path,
                ])
        }
        #expect(try git(["init", "-q"]).status == 0)
        _ = try client.directory.write("repo/hello.txt", "hello\n")
        #expect(try git(["add", "hello.txt"]).status == 0)
        #expect(try git(["commit", "-q", "-m", "Add hello marker-git"]).status == 0)
        let patch = try git(["format-patch", "-1", "--stdout"])
        let patchFile = try client.directory.write("0001.patch", patch.stdout)
        let send = try git([
            "send-email", "--sendmail-cmd=\(client.sendmail)", "--to=maintainer@example.com", "--from=dev@example.net",
            "--envelope-sender=dev@example.net", "--confirm=never", "--quiet", "--no-validate", patchFile,
        ])
        #expect(send.status == 0, "git send-email: \(send.stderr) \(send.stdout)")
        let gitMail = try Self.message(postfix, containing: "marker-git")
        #expect(gitMail.headerValues("Delivered-To") == ["maintainer@example.com"])
        #expect(gitMail.headerValues("Return-Path") == ["<dev@example.net>"])
        #expect(gitMail.header("Subject", contains: "[PATCH] Add hello marker-git"))
        #expect(Self.body(gitMail).contains("+hello\n"))
    }

    @Test func implicitTLSSend() throws {
        let postfix = try PostfixServer.start(InteropTests.options)
        defer { postfix.stop() }
        let client = try Client(postfix: postfix, implicitTLS: true)
        let result = try client.run(
            client.sendmail, ["-t", "-i"],
            input: "To: dave@example.com\nBcc: erin@example.com\nSubject: marker-implicit\n\nover port 465 style TLS\n")
        #expect(result.status == 0, "\(result.stderr)")
        let mail = try Self.message(postfix, containing: "marker-implicit")
        #expect(mail.header("Received", contains: "using TLS"))
        #expect(mail.headerValues("Bcc").isEmpty)
        let all = try Self.messages(postfix, containing: "marker-implicit", count: 2)
        #expect(Set(all.flatMap { $0.headerValues("Delivered-To") }) == ["dave@example.com", "erin@example.com"])
    }
}
