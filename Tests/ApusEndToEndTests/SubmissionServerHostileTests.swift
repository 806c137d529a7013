import ApusTestSupport
import Foundation
import Testing

/// issue #12 item 4: `-bs` reads every byte sequence safely.
@Suite struct SubmissionServerHostileTests {
    /// Replies of a `-bs` session fed `input` (bytes), with the exit status.
    static func session(_ sandbox: ApusSandbox, _ input: [UInt8]) throws -> (SubprocessResult, [String]) {
        let result = try sandbox.run(["-bs"], bytes: input, timeout: 60)
        let replies = result.stdout.split(separator: "\r\n").map(String.init)
        return (result, replies)
    }

    /// `MAIL FROM:<a@b> =` killed apus with SIGILL (index out of range).
    @Test func aLoneEqualsSignIsASyntaxError() throws {
        let sandbox = try ApusSandbox(refusing: "")
        let (result, replies) = try Self.session(sandbox, Array("EHLO x\r\nMAIL FROM:<a@b> =\r\nNOOP\r\n".utf8))
        #expect(result.status == 0, "\(result.summary)")
        #expect(replies.contains { $0.hasPrefix("501 5.5.4") }, "\(replies)")
        #expect(replies.last == "250 2.0.0 Ok")
    }

    @Test(arguments: [
        "MAIL FROM:<a@b> SIZE=abc", "MAIL FROM:<a@b> SIZE=-1", "MAIL FROM:<a@b> BODY=", "MAIL FROM:<a@b> RET=",
        "RCPT TO:<c@d> NOTIFY=", "RCPT TO:<c@d> ORCPT=",
    ])
    func badParametersGet501AndTheSessionGoesOn(line: String) throws {
        let sandbox = try ApusSandbox(refusing: "")
        let setup = line.hasPrefix("RCPT") ? "MAIL FROM:<a@b>\r\n" : ""
        let (result, replies) = try Self.session(sandbox, Array("EHLO x\r\n\(setup)\(line)\r\nNOOP\r\nQUIT\r\n".utf8))
        #expect(result.status == 0, "\(result.summary)")
        #expect(replies.contains { $0.hasPrefix("501 5.5.4") }, "\(replies)")
        #expect(replies.suffix(2) == ["250 2.0.0 Ok", "221 2.0.0 Bye"], "\(replies)")
    }

    @Test func recipientsPastTheLimitGet452() throws {
        let sandbox = try ApusSandbox(refusing: "recipient_limit 2")
        let (_, replies) = try Self.session(
            sandbox,
            Array("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<1@y>\r\nRCPT TO:<2@y>\r\nRCPT TO:<3@y>\r\nQUIT\r\n".utf8))
        #expect(replies.contains("452 4.5.3 Error: too many recipients"), "\(replies)")
        #expect(replies.filter { $0 == "250 2.1.5 Ok" }.count == 2)
    }

    /// A DATA line without end: memory stays bounded, the size limit answers 552
    /// and nothing is queued.
    @Test func anEndlessDataLineIsBoundedAndCounted() throws {
        let sandbox = try ApusSandbox(refusing: "message_size_limit 1M")
        var input = Array("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<r@y.example>\r\nDATA\r\n".utf8)
        input += [UInt8](repeating: 0x41, count: 64 << 20)
        input += Array("\r\n.\r\nNOOP\r\n".utf8)
        let result = try Subprocess.run(
            "/usr/bin/time", arguments: ["-f", "maxrss=%M", sandbox.executable, "-C", sandbox.configPath, "-bs"],
            standardInput: input, timeout: 120)
        let replies = result.stdout.split(separator: "\r\n").map(String.init)
        #expect(replies.contains("552 5.3.4 Message size exceeds fixed limit"), "\(replies)")
        #expect(replies.last == "250 2.0.0 Ok")
        #expect(sandbox.queueFiles().isEmpty)
        let rss = result.stderr.split(separator: "maxrss=").last.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0
        #expect(rss > 0 && rss < 48 * 1024, "max RSS \(rss) KiB for 64 MiB of input")
    }

    @Test func addressesThatCannotBeSentGet501() throws {
        let sandbox = try ApusSandbox(refusing: "")
        let (_, replies) = try Self.session(
            sandbox,
            Array(
                ("EHLO x\r\nMAIL FROM:<s@[a b]>\r\nMAIL FROM:<s@src.example>\r\nRCPT TO:<r@[300.1.1.1]>\r\n"
                    + "RCPT TO:<\"a b\"@y.example>\r\nRCPT TO:<root>\r\nQUIT\r\n").utf8))
        #expect(
            replies.suffix(6) == [
                "501 5.1.7 Bad sender address syntax", "250 2.1.0 Ok", "501 5.1.3 Bad recipient address syntax",
                "250 2.1.5 Ok", "250 2.1.5 Ok", "221 2.0.0 Bye",
            ], "\(replies)")
    }

    @Test func aLongCommandLineGets500() throws {
        let sandbox = try ApusSandbox(refusing: "")
        let (_, replies) = try Self.session(
            sandbox, Array(("EHLO x\r\nMAIL FROM:<" + String(repeating: "a", count: 100_000) + "@b>\r\nNOOP\r\n").utf8))
        #expect(replies.contains("500 5.5.2 Line too long"), "\(replies)")
        #expect(replies.last == "250 2.0.0 Ok")
    }

    @Test func aMessageOverTheLimitAnnouncedBySIZEIsRefusedAtMAIL() throws {
        let sandbox = try ApusSandbox(refusing: "message_size_limit 1k")
        let (_, replies) = try Self.session(sandbox, Array("EHLO x\r\nMAIL FROM:<a@b> SIZE=5000\r\n".utf8))
        #expect(replies.contains("250-SIZE 1024"), "\(replies)")
        #expect(replies.last == "552 5.3.4 Message size exceeds fixed limit", "\(replies)")
    }
}
