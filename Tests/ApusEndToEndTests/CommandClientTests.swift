import ApusTestSupport
import Foundation
import Testing

/// The argv real clients use (test-servers.md), then the real programs
/// themselves, through a `sendmail` wrapper, against smtp-sink.
@Suite struct CommandClientTests {
    /// The environment for real clients: nothing of the test's, HOME in the sandbox.
    static func clientEnvironment(_ sandbox: ApusSandbox, _ extra: [String: String] = [:]) -> [String: String] {
        var environment = [
            "HOME": sandbox.directory.path, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LOGNAME": "root",
            "USER": "root", "GIT_CONFIG_NOSYSTEM": "1", "MAILRC": "/dev/null", "TZ": "UTC",
        ]
        environment.merge(extra) { $1 }
        return environment
    }

    // MARK: - The argv

    /// Debian's cron: `sendmail -FCronDaemon -i -B8BITMIME -oem root`.
    @Test func debianCron() throws {
        let (sink, sandbox) = try sinkSandbox(settings: "default_domain cron.example")
        let input = message(
            [
                "To: root", "Subject: Cron <root@host> /usr/local/bin/backup", "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=UTF-8", "Content-Transfer-Encoding: 8bit",
                "X-Cron-Env: <SHELL=/bin/sh>", "X-Cron-Env: <HOME=/root>",
            ], body: "backup: 3 files, 1.2 MB \u{2714}\n.\ndone\n")
        let result = try sandbox.run(
            ["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"], input: input, program: "sendmail")
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderr.isEmpty, "\(result.summary)")
        let saved = try #require(try sink.waitForMessages(1).first)
        #expect(saved.recipients == ["root@cron.example"])
        #expect(saved.mailArguments.contains("BODY=8BITMIME"), "\(saved.mailArguments)")
        #expect(saved.sender.hasSuffix("@test.example"))
        #expect(saved.header("From") == ["\"CronDaemon\" <\(saved.sender)>"], "\(saved.headerText)")
        #expect(saved.header("To") == ["root@cron.example"], "qualified as Postfix's cleanup does")
        #expect(saved.header("Date").count == 1 && saved.header("Message-ID").count == 1)
        #expect(saved.body == "backup: 3 files, 1.2 MB \u{2714}\n.\ndone\n", "\(saved.body)")
    }

    /// What Debian's cron really writes (`From: root (Cron Daemon)`, `To: root`):
    /// the unqualified header addresses are qualified as Postfix's cleanup
    /// does, senders with `domain`, recipients with `default_domain`; the
    /// comment, display names and qualified addresses stay as written.
    @Test func cronHeaderAddressesAreQualified() throws {
        let (sink, sandbox) = try sinkSandbox(settings: "default_domain cron.example")
        let input = message([
            "From: root (Cron Daemon)", "To: root", "Cc: Ops <ops>, admin@elsewhere.example",
            "Reply-To: \"Back Up\" <backup>", "Subject: Cron <root@vm> run-parts", "X-Cron-Env: <USER=root>",
        ])
        let saved = try sandbox.sendOne(
            ["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"], input: input, program: "sendmail", to: sink)
        #expect(saved.header("From") == ["root@test.example (Cron Daemon)"], "\(saved.headerText)")
        #expect(saved.header("To") == ["root@cron.example"], "\(saved.headerText)")
        #expect(saved.header("Cc") == ["Ops <ops@cron.example>, admin@elsewhere.example"], "\(saved.headerText)")
        #expect(saved.header("Reply-To") == ["\"Back Up\" <backup@test.example>"], "\(saved.headerText)")
        #expect(saved.header("Subject") == ["Cron <root@vm> run-parts"])
        #expect(saved.header("X-Cron-Env") == ["<USER=root>"])
    }

    /// mail(1): `sendmail -i -- ADDR…`.
    @Test func mailCommand() throws {
        let (sink, sandbox) = try sinkSandbox()
        let input = message(["To: a@y.example, b@y.example", "Subject: from mail"])
        let saved = try sandbox.sendOne(
            ["-i", "--", "a@y.example", "b@y.example"], input: input, program: "sendmail", to: sink)
        #expect(saved.recipients == ["a@y.example", "b@y.example"])
    }

    /// s-nail: `sendmail -i -f FROM -- RCPT`.
    @Test func snailArgv() throws {
        let (sink, sandbox) = try sinkSandbox()
        let input = message(["From: me@src.example", "To: you@y.example", "Subject: s-nail"])
        let saved = try sandbox.sendOne(
            ["-i", "-f", "me@src.example", "--", "you@y.example"], input: input, program: "sendmail", to: sink)
        #expect(saved.sender == "me@src.example")
        #expect(saved.recipients == ["you@y.example"])
        #expect(saved.header("From") == ["me@src.example"])
    }

    /// git send-email: `sendmail -i -f FROM a b`.
    @Test func gitSendEmailArgv() throws {
        let (sink, sandbox) = try sinkSandbox()
        let input = message(["From: Pat <pat@src.example>", "To: a@y.example", "Cc: b@y.example", "Subject: [PATCH] x"])
        let saved = try sandbox.sendOne(
            ["-i", "-f", "pat@src.example", "a@y.example", "b@y.example"], input: input, program: "sendmail", to: sink)
        #expect(saved.sender == "pat@src.example")
        #expect(saved.recipients == ["a@y.example", "b@y.example"])
    }

    /// PHP's mail(): `sendmail -t -i`, no Date or Message-ID (both added).
    @Test func phpMail() throws {
        let (sink, sandbox) = try sinkSandbox()
        let input =
            "To: user@y.example\r\nSubject: Welcome\r\nFrom: webmaster@src.example\r\nX-Mailer: PHP/8.2\r\n\r\nHi there\r\n"
        let saved = try sandbox.sendOne(["-t", "-i"], input: input, program: "sendmail", to: sink)
        #expect(saved.recipients == ["user@y.example"])
        #expect(saved.header("From") == ["webmaster@src.example"])
        let date = try #require(saved.header("Date").first)
        #expect(
            date.wholeMatch(of: #/[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}/#) != nil,
            "\(date)")
        let id = try #require(saved.header("Message-ID").first)
        #expect(id.wholeMatch(of: #/<[0-9a-zA-Z._-]{22,}@test\.example>/#) != nil, "\(id)")
        #expect(saved.body == "Hi there\n")
    }

    /// The "done when": piped to a `sendmail` symlink with `-t`, the
    /// message reaches smtp-sink with the envelope, Bcc removed, From/Date/Message-ID added.
    @Test func sendmailSymlinkWithT() throws {
        let (sink, sandbox) = try sinkSandbox()
        let input = message(
            [
                "To: \"Ann\" <ann@y.example>, bob@y.example", "Cc: carl@y.example", "Bcc: secret@z.example",
                "Subject: done when",
            ], body: "the body\n")
        let result = try sandbox.run(["-t", "-F", "Root User"], input: input, program: "sendmail")
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderr.isEmpty && result.stdout.isEmpty)
        let saved = try #require(try sink.waitForMessages(1).first)
        #expect(saved.sender == "root@test.example" || saved.sender.hasSuffix("@test.example"))
        #expect(saved.recipients == ["ann@y.example", "bob@y.example", "carl@y.example", "secret@z.example"])
        #expect(saved.header("Bcc").isEmpty, "\(saved.headerText)")
        #expect(!saved.text.contains("secret@z.example"))
        #expect(saved.header("From") == ["\"Root User\" <\(saved.sender)>"])
        #expect(saved.header("Date").count == 1)
        #expect(saved.header("Message-ID").count == 1)
        #expect(saved.header("To") == ["\"Ann\" <ann@y.example>, bob@y.example"])
        #expect(saved.body == "the body\n")
        #expect(sandbox.logLines().count == 4)
    }

    /// Resent- headers present: `-t` takes Resent-To/Cc/Bcc instead, and Resent-Bcc is removed.
    @Test func resentHeadersWithT() throws {
        let (sink, sandbox) = try sinkSandbox()
        let input = message(
            [
                "From: a@src.example", "To: original@y.example", "Resent-From: b@src.example",
                "Resent-To: new@y.example",
                "Resent-Bcc: hidden@y.example", "Bcc: old-hidden@y.example", "Subject: fwd",
            ])
        let saved = try sandbox.sendOne(["-t"], input: input, to: sink)
        #expect(saved.recipients == ["new@y.example", "hidden@y.example"])
        #expect(saved.header("Resent-Bcc").isEmpty && saved.header("Bcc").isEmpty, "\(saved.headerText)")
    }

    // MARK: - The real programs

    @Test(.enabled(if: installed("s-nail"), "s-nail is not installed"))
    func realSnail() throws {
        let (sink, sandbox) = try sinkSandbox()
        let sendmail = try sandbox.wrapper()
        let result = try Subprocess.run(
            "/usr/bin/s-nail",
            arguments: ["-n", "-S", "mta=\(sendmail)", "-r", "from@x.example", "-s", "snail subject", "to@y.example"],
            environment: Self.clientEnvironment(sandbox), standardInput: Array("body from s-nail\n".utf8), timeout: 20)
        #expect(result.status == 0, "\(result.summary)")
        #expect(sandbox.wrapperArguments() == ["-i", "-f", "from@x.example", "--", "to@y.example"])
        let saved = try #require(try sink.waitForMessages(1).first)
        #expect(saved.sender == "from@x.example")
        #expect(saved.recipients == ["to@y.example"])
        #expect(saved.header("Subject") == ["snail subject"])
        #expect(saved.header("From") == ["from@x.example"])
        #expect(saved.header("Message-ID").count == 1, "s-nail's own Message-ID is kept, none added")
        #expect(saved.body == "body from s-nail\n")
    }

    @Test(.enabled(if: installed("bsd-mailx"), "bsd-mailx is not installed"))
    func realMailx() throws {
        let (sink, sandbox) = try sinkSandbox()
        let sendmail = try sandbox.wrapper()
        let mailrc = try sandbox.directory.write("mailrc", "set sendmail=\(sendmail)\n")
        let result = try Subprocess.run(
            "/usr/bin/bsd-mailx", arguments: ["-s", "mailx subject", "to@y.example"],
            environment: Self.clientEnvironment(sandbox, ["MAILRC": mailrc]),
            standardInput: Array("body from mailx\n".utf8), timeout: 20)
        #expect(result.status == 0, "\(result.summary)")
        let saved = try #require(try sink.waitForMessages(1, timeout: 10).first)
        #expect(sandbox.wrapperArguments().contains("-i"), "\(sandbox.wrapperArguments())")
        #expect(saved.recipients == ["to@y.example"])
        #expect(saved.header("Subject") == ["mailx subject"])
        #expect(saved.header("To") == ["to@y.example"])
        #expect(
            saved.header("From").count == 1 && saved.header("Date").count == 1 && saved.header("Message-ID").count == 1)
        #expect(saved.body == "body from mailx\n")
    }

    @Test(.enabled(if: installed("git-send-email"), "git-email is not installed"))
    func realGitSendEmail() throws {
        let (sink, sandbox) = try sinkSandbox()
        let sendmail = try sandbox.wrapper()
        let repository = try sandbox.directory.makeDirectory("repo")
        let environment = Self.clientEnvironment(sandbox)
        func git(_ arguments: [String]) throws -> SubprocessResult {
            let result = try Subprocess.run(
                "/usr/bin/git", arguments: arguments, environment: environment, workingDirectory: repository,
                timeout: 30)
            #expect(result.status == 0, "git \(arguments): \(result.summary)")
            return result
        }
        _ = try git(["init", "-q", "."])
        _ = try git(["config", "user.name", "Pat Coder"])
        _ = try git(["config", "user.email", "pat@src.example"])
        try sandbox.directory.write("repo/hello.txt", "hello\n")
        _ = try git(["add", "hello.txt"])
        _ = try git(["commit", "-q", "-m", "Add hello"])
        let patch = try git(["format-patch", "-1", "-o", sandbox.directory.file("patches")]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try git([
            "send-email", "--sendmail-cmd=\(sendmail)", "--to=list@y.example", "--cc=rev@y.example", "--confirm=never",
            "--suppress-cc=self", "--envelope-sender=pat@src.example", "--quiet", patch,
        ])
        #expect(sandbox.wrapperArguments() == ["-f", "pat@src.example", "-i", "list@y.example", "rev@y.example"])
        let saved = try #require(try sink.waitForMessages(1).first)
        #expect(saved.sender == "pat@src.example")
        #expect(saved.recipients == ["list@y.example", "rev@y.example"])
        #expect(saved.header("Subject") == ["[PATCH] Add hello"])
        #expect(saved.header("From") == ["Pat Coder <pat@src.example>"])
        #expect(headers(in: saved.headerText, "Message-Id").count == 1, "git's Message-Id is kept, none added")
        #expect(saved.body.contains("+hello\n"))
    }
}
