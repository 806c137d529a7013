import Testing

@testable import ApusCommand

/// The `-bs` command reader: bytes in, events out, no I/O.
struct SMTPCommandReaderTests {
    typealias Event = SMTPCommandReader.Event

    /// Runs `input` through a reader fed in pieces of `step` octets (0 = whole),
    /// entering DATA after every DATA command; consecutive data and chunk events merged.
    static func events(_ input: [UInt8], step: Int = 0, dataLimit: Int = 0) -> [Event] {
        var reader = SMTPCommandReader()
        var out: [Event] = []
        func drain() {
            while let event = reader.next() {
                if case .command(.data) = event { reader.beginData(limit: dataLimit) }
                switch (out.last, event) {
                case (.data(let a)?, .data(let b)): out[out.count - 1] = .data(a + b)
                case (.chunk(let a)?, .chunk(let b)): out[out.count - 1] = .chunk(a + b)
                default: out.append(event)
                }
            }
        }
        if step == 0 {
            reader.append(input)
            drain()
        } else {
            var start = 0
            while start < input.count {
                let end = min(input.count, start + step)
                reader.append(input[start..<end])
                drain()
                start = end
            }
        }
        return out
    }

    /// Whole, byte by byte and in odd chunks: the same events.
    static func allWays(_ text: String, dataLimit: Int = 0) -> [Event] {
        let input = Array(text.utf8)
        let whole = events(input, dataLimit: dataLimit)
        for step in [1, 3, 7, 100] {
            #expect(events(input, step: step, dataLimit: dataLimit) == whole, "step \(step)")
        }
        return whole
    }

    @Test func aSessionComesOutAsCommands() {
        let e = Self.allWays(
            "EHLO client.example\r\nMAIL FROM:<a@b> SIZE=10 BODY=8BITMIME\r\nRCPT TO:<c@d> NOTIFY=SUCCESS,FAILURE\r\n"
                + "DATA\r\nline\r\n..dot\r\n.\r\nQUIT\r\n")
        var mail = SMTPCommandReader.MailParameters()
        mail.size = 10
        mail.body = "8BITMIME"
        var rcpt = SMTPCommandReader.RecipientParameters()
        rcpt.notify = "SUCCESS,FAILURE"
        #expect(
            e == [
                .command(.ehlo("client.example")), .command(.mail("a@b", mail)), .command(.rcpt("c@d", rcpt)),
                .command(.data), .data(Array("line\r\n.dot\r\n".utf8)), .endOfData(tooLarge: false), .command(.quit),
            ])
    }

    /// `MAIL FROM:<a@b> =` crashed the old reader (index out of range).
    @Test(arguments: [
        "MAIL FROM:<a@b> =", "MAIL FROM:<a@b> SIZE=abc", "MAIL FROM:<a@b> SIZE=-1", "MAIL FROM:<a@b> SIZE=",
        "MAIL FROM:<a@b> BODY=", "MAIL FROM:<a@b> BODY=binary", "MAIL FROM:<a@b> RET=", "MAIL FROM:<a@b> RET=ALL",
        "MAIL FROM:<a@b> ENVID=", "MAIL FROM:<a@b> ENVID=a+zz", "MAIL FROM:<a@b> SMTPUTF8=yes",
        "MAIL FROM:<a@b> SIZE=1 SIZE=2", "RCPT TO:<c@d> NOTIFY=", "RCPT TO:<c@d> NOTIFY=NEVER,SUCCESS",
        "RCPT TO:<c@d> NOTIFY=SOMETIMES", "RCPT TO:<c@d> ORCPT=", "RCPT TO:<c@d> ORCPT=rfc822",
        "RCPT TO:<c@d> ORCPT=;x", "RCPT TO:<c@d> ORCPT=rfc822;", "MAIL FROM:<a@b> SIZE=99999999999999999999",
    ])
    func badParametersGet501(line: String) {
        let e = Self.allWays(line + "\r\nNOOP\r\n")
        #expect(e.count == 2)
        guard case .syntaxError(let code, let text) = e.first else {
            Issue.record("\(e)")
            return
        }
        #expect(code == 501)
        #expect(text.hasPrefix("5.5.4"))
        #expect(e.last == .command(.noop))
    }

    @Test(arguments: ["MAIL FROM:<a@b> AUTH=<>", "MAIL FROM:<a@b> X=1", "RCPT TO:<c@d> FOO"])
    func unknownParametersGet555(line: String) {
        let e = Self.allWays(line + "\r\n")
        #expect(e.count == 1)
        if case .syntaxError(let code, _) = e.first { #expect(code == 555) } else { Issue.record("\(e)") }
    }

    @Test(arguments: [
        "MAIL FROM:<a@b>>", "MAIL FROM:<a@b", "MAIL FROM:a@b>", "MAIL TO:<a@b>", "RCPT TO:<>", "RCPT TO:",
        "RCPT FROM:<c@d>", "EHLO", "BDAT", "BDAT x", "BDAT 1 NOTLAST", "DATA x", "MAIL FROM:<a<b>",
    ])
    func badSyntaxGet501(line: String) {
        let e = Self.allWays(line + "\r\n")
        #expect(e.count == 1)
        if case .syntaxError(let code, _) = e.first { #expect(code == 501) } else { Issue.record("\(e)") }
    }

    @Test func goodParametersAreKept() {
        let e = Self.allWays(
            "MAIL FROM:<> RET=hdrs ENVID=QQ+2B1 SMTPUTF8 BODY=7bit\r\nRCPT TO:<\"a b\"@d> ORCPT=rfc822;a+40b NOTIFY=never\r\n"
        )
        var mail = SMTPCommandReader.MailParameters()
        mail.dsnReturn = "HDRS"
        mail.envelopeID = "QQ+1"
        mail.smtpUTF8 = true
        mail.body = "7BIT"
        var rcpt = SMTPCommandReader.RecipientParameters()
        rcpt.originalRecipient = "rfc822;a+40b"
        rcpt.notify = "NEVER"
        #expect(e == [.command(.mail("", mail)), .command(.rcpt("\"a b\"@d", rcpt))])
    }

    /// A command line is bounded: a longer one is skipped as it arrives and answered 500.
    @Test func longLinesAreSkippedNotBuffered() {
        let long = "NOOP " + String(repeating: "x", count: 10_000)
        #expect(
            Self.allWays(long + "\r\nQUIT\r\n") == [
                .syntaxError(code: 500, text: "5.5.2 Line too long"), .command(.quit),
            ])
        let exactly = "NOOP " + String(repeating: "x", count: SMTPCommandReader.maximumLineLength - 7)
        #expect(Self.allWays(exactly + "\r\n") == [.command(.noop)])
        #expect(Self.allWays(exactly + "x\r\n") == [.syntaxError(code: 500, text: "5.5.2 Line too long")])
        // A line that never ends holds no more than a bounded buffer.
        var reader = SMTPCommandReader()
        for _ in 0..<1000 {
            reader.append([UInt8](repeating: 0x41, count: 4096))
            #expect(reader.next() == nil)
        }
        reader.append(Array("\r\nQUIT\r\n".utf8))
        #expect(reader.next() == .syntaxError(code: 500, text: "5.5.2 Line too long"))
        #expect(reader.next() == .command(.quit))
    }

    @Test func controlCharactersInCommandsAreRefused() {
        let e = Self.allWays("MAIL FROM:<a@b>\rRCPT TO:<evil@x>\r\nNOOP\0\r\n")
        #expect(e.count == 2)
        for event in e {
            if case .syntaxError(let code, _) = event { #expect(code == 500) } else { Issue.record("\(e)") }
        }
    }

    /// DATA: lone-dot endings with CRLF or LF; a bare CR stays in the line (the
    /// message reader ends the line there later); unstuffing.
    @Test func dataIsUnstuffedAndEndsAtTheLoneDot() {
        let e = Self.allWays("DATA\r\na\r.\r\n..x\n.\nNOOP\r\n")
        #expect(
            e == [.command(.data), .data(Array("a\r.\r\n.x\r\n".utf8)), .endOfData(tooLarge: false), .command(.noop)])
    }

    /// A DATA line without end comes out in bounded pieces; the size limit is counted.
    @Test func dataIsBoundedAndCounted() {
        var reader = SMTPCommandReader()
        reader.append(Array("DATA\r\n".utf8))
        #expect(reader.next() == .command(.data))
        reader.beginData(limit: 1 << 20)
        var received = 0
        for _ in 0..<100 {
            reader.append([UInt8](repeating: 0x41, count: 65536))
            while let event = reader.next() {
                guard case .data(let bytes) = event else {
                    Issue.record("\(event)")
                    return
                }
                #expect(bytes.count <= SMTPCommandReader.maximumDataPiece)
                received += bytes.count
            }
        }
        #expect(received <= 1 << 20)
        reader.append(Array("\r\n.\r\n".utf8))
        var last: Event? = nil
        while let event = reader.next() { last = event }
        #expect(last == .endOfData(tooLarge: true))
    }

    @Test func bdatChunksFollowTheirCommand() {
        let e = Self.allWays("BDAT 5\r\nab\r\ncBDAT 0 LAST\r\nQUIT\r\n")
        #expect(
            e == [
                .command(.bdat(size: 5, last: false)), .chunk(Array("ab\r\nc".utf8)), .endOfChunk,
                .command(.bdat(size: 0, last: true)), .endOfChunk, .command(.quit),
            ])
    }

    /// Arbitrary bytes: never a crash, the same events however they are fed.
    @Test func anyBytesAreSafe() {
        var generator = SystemRandomNumberGenerator()
        let words = [
            "MAIL FROM:<a@b> ", "RCPT TO:<c@d> ", "DATA", "BDAT 3", "=", "SIZE=", "\r\n", "\n", "\r", ".", "<", ">",
            "\"", " ", "\0", "x",
        ]
        for _ in 0..<300 {
            let text = (0..<Int.random(in: 0...40, using: &generator)).map { _ in
                words.randomElement(using: &generator) ?? ""
            }
            .joined()
            _ = Self.allWays(text)
        }
    }
}
