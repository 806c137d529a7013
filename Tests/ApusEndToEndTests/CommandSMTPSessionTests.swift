import ApusTestSupport
import Foundation
import Testing

/// `-bs`: SMTP on stdin/stdout, driven by Python's smtplib over a socketpair
/// and by swaks --pipe; each accepted message goes on to smtp-sink.
@Suite struct CommandSMTPSessionTests {
    /// A client: apus -bs runs with one end of a socketpair as stdin and
    /// stdout; smtplib speaks over the other. Two messages with sendmail(),
    /// an abandoned transaction (RSET), a pipelined transaction and a BDAT one.
    static let client = #"""
        import json, smtplib, socket, subprocess, sys

        ours, theirs = socket.socketpair()
        child = subprocess.Popen(sys.argv[1:], stdin=theirs, stdout=theirs)
        theirs.close()
        s = smtplib.SMTP()
        s.sock = ours
        s.file = None
        log = []
        def reply(what):
            code, text = s.getreply()
            log.append([what, code, text.decode()])
            return code
        assert reply("banner") == 220
        code, _ = s.ehlo("client.example")
        assert code == 250
        for feature in ("pipelining", "chunking", "8bitmime", "size", "smtputf8", "dsn"):
            assert s.has_extn(feature), feature
        s.sendmail("one@src.example", ["r1@y.example"], "Subject: first\r\n\r\nfirst body\r\n")
        s.sendmail("two@src.example", ["r2@y.example", "r3@y.example"], "Subject: second\r\n\r\n.leading dot\r\n")
        # Abandoned: MAIL and RCPT, then RSET; nothing may be sent.
        assert s.mail("gone@src.example")[0] == 250
        assert s.rcpt("never@y.example")[0] == 250
        assert s.rset()[0] == 250
        # DATA without a transaction is refused.
        s.putcmd("DATA")
        assert reply("data alone") == 503
        # PIPELINING: MAIL, RCPT, RCPT, DATA in one write.
        s.send("MAIL FROM:<pipe@src.example>\r\nRCPT TO:<p1@y.example>\r\nRCPT TO:<p2@y.example>\r\nDATA\r\n")
        assert [reply("mail"), reply("rcpt"), reply("rcpt"), reply("data")] == [250, 250, 250, 354]
        s.send("Subject: pipelined\r\n\r\npipelined body\r\n.\r\n")
        assert reply("end of data") == 250
        # CHUNKING: the whole transaction in one write, in two chunks.
        first = b"Subject: chunked\r\n\r\n"
        second = b"chunked body\r\n"
        s.send(b"MAIL FROM:<bdat@src.example> BODY=8BITMIME\r\nRCPT TO:<b1@y.example>\r\nBDAT %d\r\n%sBDAT %d LAST\r\n%s"
               % (len(first), first, len(second), second))
        assert [reply("mail"), reply("rcpt"), reply("bdat"), reply("bdat last")] == [250, 250, 250, 250]
        # A line over 4096 octets: 500, and the session goes on.
        s.send("NOOP " + "x" * 5000 + "\r\n")
        assert reply("overlong") == 500
        assert s.noop()[0] == 250
        s.quit()
        print(json.dumps(log))
        sys.exit(child.wait(timeout=20))
        """#

    @Test(.enabled(if: installed("python3"), "python3 is not installed"))
    func smtplibOverASocketpair() throws {
        let sink = try SMTPSink()
        let sandbox = try ApusSandbox(port: sink.port)
        let script = try sandbox.directory.write("client.py", Self.client)
        let result = try Subprocess.run(
            "/usr/bin/python3", arguments: [script, sandbox.executable, "-C", sandbox.configPath, "-bs"], timeout: 30)
        #expect(result.status == 0, "\(result.summary)")
        let saved = try sink.waitForMessages(4)
        #expect(saved.count == 4, "\(saved.map(\.text))")
        let bySubject = Dictionary(saved.map { ($0.header("Subject").first ?? "", $0) }) { first, _ in first }
        #expect(Set(bySubject.keys) == ["first", "second", "pipelined", "chunked"])
        #expect(bySubject["first"]?.sender == "one@src.example")
        #expect(bySubject["first"]?.recipients == ["r1@y.example"])
        #expect(bySubject["first"]?.body == "first body\n")
        #expect(bySubject["second"]?.recipients == ["r2@y.example", "r3@y.example"])
        #expect(bySubject["second"]?.body == ".leading dot\n")
        #expect(bySubject["pipelined"]?.recipients == ["p1@y.example", "p2@y.example"])
        #expect(bySubject["chunked"]?.sender == "bdat@src.example")
        #expect(bySubject["chunked"]?.body == "chunked body\n")
        for message in saved {
            // Headers apus adds on the -bm path: Date and Message-ID, From from the envelope.
            #expect(message.header("Date").count == 1 && message.header("Message-ID").count == 1)
            #expect(
                message.header("From") == ["\(message.sender)"]
                    || message.header("From").first?.contains(message.sender) == true)
        }
        #expect(!saved.contains { $0.recipients.contains("never@y.example") })
    }

    /// A refused recipient at the relay becomes a 5xx to the `-bs` client; a
    /// relay that is down means the message is queued and the client hears 250.
    @Test(.enabled(if: installed("swaks"), "swaks is not installed"))
    func swaksPipe() throws {
        let sink = try SMTPSink()
        let sandbox = try ApusSandbox(port: sink.port)
        let command = "\(sandbox.executable) -C \(sandbox.configPath) -bs"
        let result = try Subprocess.run(
            "/usr/bin/swaks",
            arguments: [
                "--pipe", command, "--from", "swaks@src.example", "--to", "t@y.example", "--header",
                "Subject: via swaks",
                "--body", "swaks body",
            ], timeout: 30)
        #expect(result.status == 0, "\(result.summary)")
        let saved = try #require(try sink.waitForMessages(1).first)
        #expect(saved.sender == "swaks@src.example")
        #expect(saved.recipients == ["t@y.example"])
        #expect(saved.header("Subject") == ["via swaks"])

        let down = try ApusSandbox(refusing: "")
        let queued = try Subprocess.run(
            "/usr/bin/swaks",
            arguments: [
                "--pipe", "\(down.executable) -C \(down.configPath) -bs", "--from", "s@src.example", "--to",
                "t@y.example",
            ],
            timeout: 30)
        #expect(queued.status == 0, "\(queued.summary)")
        #expect(queued.stdout.contains("<-  250 2.0.0 Ok: queued "), "\(queued.stdout)")
        #expect(down.queuedMessages().count >= 1, "\(down.queueFiles())")
    }

    @Test(.enabled(if: installed("swaks"), "swaks is not installed"))
    func refusedRecipientIsA5xxForTheClient() throws {
        let (server, sandbox) = try scriptedSandbox { $0.on("RCPT", "550 5.1.1 No such user") }
        let result = try Subprocess.run(
            "/usr/bin/swaks",
            arguments: [
                "--pipe", "\(sandbox.executable) -C \(sandbox.configPath) -bs", "--from", "s@src.example", "--to",
                "nobody@y.example",
            ], timeout: 30)
        #expect(result.stdout.contains("<** 554"), "\(result.summary)")
        // (The scriptable server takes a BDAT LAST even with no recipient left; a message needs one.)
        #expect(server.messages.filter { $0.accepted && !$0.recipients.isEmpty }.isEmpty)
        #expect(sandbox.queueFiles().isEmpty)
    }
}
