import ApusMessage
import Testing

@Suite struct HeaderChangesTests {
    let date = "Mon, 1 Jan 2024 12:00:00 +0100"
    let id = "<0123456789abcdef0123456789abcdef@example.com>"

    func changes(_ mode: HeaderChanges.FromHeaderMode = .add, name: String? = "Ann Example") throws -> HeaderChanges {
        HeaderChanges(
            fromMode: mode, sender: try EnvelopeAddress.parse("ann@example.com"), fullName: name, date: date,
            messageID: id)
    }

    @Test func phpMailGetsFromDateAndMessageIDAtTheEndAndNothingElseMoves() throws {
        var h = try readAllWays(try fixture("php-mail.eml")).headers
        let before = h.bytes
        try changes().apply(to: &h)
        #expect(h.map(\.nameString) == ["To", "Subject", "From", "Reply-To", "X-Mailer", "Date", "Message-ID"])
        #expect(h.bytes.text == before.text + "Date: \(date)\r\nMessage-ID: \(id)\r\n")
    }

    @Test func fromIsAddedWhenMissingWithAQuotedName() throws {
        var h = try readAllWays(bytes("To: x@y\nBcc: secret@y\nResent-Bcc: s2@y\nSubject: s\n  folded\n\n")).headers
        try changes().apply(to: &h)
        #expect(
            h.bytes.text
                == "To: x@y\r\nSubject: s\r\n  folded\r\nFrom: \"Ann Example\" <ann@example.com>\r\nDate: \(date)\r\nMessage-ID: \(id)\r\n"
        )
    }

    @Test(arguments: [
        (HeaderChanges.FromHeaderMode.keep, "From: other@x\r\n"),
        (.add, "From: other@x\r\n"),
        (.override, "From: \"Ann Example\" <ann@example.com>\r\n"),
    ])
    func fromHeaderModes(mode: HeaderChanges.FromHeaderMode, expected: String) throws {
        var h = try readAllWays(bytes("X-First: 1\nFrom: other@x\nX-Last: 2\nDate: d\nMessage-ID: <m@x>\n\n")).headers
        try changes(mode).apply(to: &h)
        #expect(h.bytes.text == "X-First: 1\r\n" + expected + "X-Last: 2\r\nDate: d\r\nMessage-ID: <m@x>\r\n")
        var empty = Headers()
        try changes(mode).apply(to: &empty)
        #expect(empty.contains(named: "From") == (mode != .keep))
    }

    @Test func namesAreQuotedOrEncoded() throws {
        #expect(
            try changes(name: "Joe \"Q\" Public").fromField?.valueString == "\"Joe \\\"Q\\\" Public\" <ann@example.com>"
        )
        #expect(try changes(name: nil).fromField?.valueString == "ann@example.com")
        let encoded = try #require(try changes(name: "Jörg Müller").fromField)
        #expect(encoded.valueString.hasPrefix("=?utf-8?") && encoded.valueString.hasSuffix(" <ann@example.com>"))
        #expect(try changes(name: "evil\r\nBcc: x").fromField?.valueString == "ann@example.com")
        let null = HeaderChanges(sender: .null, fullName: "x", date: date, messageID: id)
        #expect(null.fromField == nil)
    }

    @Test func injectedDateIsRefused() throws {
        var h = Headers()
        let bad = HeaderChanges(sender: .null, fullName: nil, date: "x\r\nBcc: y", messageID: id)
        #expect(throws: MessageError.self) { try bad.apply(to: &h) }
    }

    @Test(arguments: [
        (Int64(0), 0, "Thu, 1 Jan 1970 00:00:00 +0000"),
        (880_127_706, -21_600, "Fri, 21 Nov 1997 09:55:06 -0600"),
        (-27_723_426, -12_600, "Thu, 13 Feb 1969 23:32:54 -0330"),
        (1_709_210_096, 19_800, "Thu, 29 Feb 2024 18:04:56 +0530"),
        (4_102_444_799, 0, "Thu, 31 Dec 2099 23:59:59 +0000"),
    ])
    func dateFormat(seconds: Int64, offset: Int, expected: String) {
        #expect(MessageDate.format(secondsSinceEpoch: seconds, utcOffsetSeconds: offset) == expected)
    }

    @Test func dateNowLooksRight() {
        let now = MessageDate.now()
        let parts = now.split(separator: " ")
        #expect(parts.count == 6 && parts[0].hasSuffix(",") && (parts[5].hasPrefix("+") || parts[5].hasPrefix("-")))
    }

    @Test func messageIDs() throws {
        #expect(
            MessageID.make(randomBytes: Array(0..<16), domain: "x.test") == "<000102030405060708090a0b0c0d0e0f@x.test>")
        let a = try MessageID.generate(domain: "example.com")
        let b = try MessageID.generate(domain: "example.com")
        #expect(a != b && a.count == 1 + 32 + 1 + 11 + 1)
        #expect(try EnvelopeAddress.parse(a).mailbox?.domain?.text == "example.com")
    }

    // MARK: - Qualifying unqualified header addresses (Postfix cleanup)

    func qualifying() throws -> HeaderChanges {
        var c = try changes(.keep)
        c.senderDomain = Array("origin.example".utf8)
        c.recipientDomain = Array("rcpt.example".utf8)
        return c
    }

    @Test(arguments: [
        ("From: root (Cron Daemon)", "From: root@origin.example (Cron Daemon)"),
        ("To: root", "To: root@rcpt.example"),
        ("Cc: Ops Team <ops>, x@y.example,\tz", "Cc: Ops Team <ops@rcpt.example>, x@y.example,\tz@rcpt.example"),
        ("Reply-To: \"a b\"", "Reply-To: \"a b\"@origin.example"),
        ("Sender: first.last", "Sender: first.last@origin.example"),
        ("Resent-From: root", "Resent-From: root@origin.example"),
        ("Resent-Sender: <root>", "Resent-Sender: <root@origin.example>"),
        ("Resent-Reply-To: root", "Resent-Reply-To: root@origin.example"),
        ("Resent-To: root", "Resent-To: root@rcpt.example"),
        ("Resent-Cc: root", "Resent-Cc: root@rcpt.example"),
        (
            "To: friends: anne, bob@x.example;, carl",
            "To: friends: anne@rcpt.example, bob@x.example;, carl@rcpt.example"
        ),
        ("To: undisclosed-recipients:;", "To: undisclosed-recipients:;"),
        ("From: <>", "From: <>"),
        ("To: \"Doe, J\" <jd> (comment, here)", "To: \"Doe, J\" <jd@rcpt.example> (comment, here)"),
        ("To: <@relay.example:user>", "To: <@relay.example:user@rcpt.example>"),
        ("To: Root User", "To: Root User"),
        ("From: root@host.example (Cron Daemon)", "From: root@host.example (Cron Daemon)"),
        ("Subject: root", "Subject: root"),
        ("X-Original-To: root", "X-Original-To: root"),
        ("To: a@\"broken", "To: a@\"broken"),
    ])
    func unqualifiedAddressesGetTheirDomain(field: String, expected: String) throws {
        var h = try readAllWays(bytes(field + "\n\n")).headers
        try qualifying().apply(to: &h)
        #expect(h.bytes.text == expected + "\r\n" + "Date: \(date)\r\nMessage-ID: \(id)\r\n")
    }

    /// Folding and everything around the address stay as written.
    @Test func qualifyingKeepsTheFolding() throws {
        var h = try readAllWays(
            bytes("To: Anne <anne>,\n  (the boss)\n\tboss,\n carl@x.example\nDate: d\nMessage-ID: <m@x>\n\n")
        ).headers
        try qualifying().apply(to: &h)
        #expect(
            h.bytes.text
                == "To: Anne <anne@rcpt.example>,\r\n  (the boss)\r\n\tboss@rcpt.example,\r\n carl@x.example\r\nDate: d\r\nMessage-ID: <m@x>\r\n"
        )
    }

    /// Without domains (library users), nothing is qualified.
    @Test func noDomainNoQualifying() throws {
        var h = try readAllWays(bytes("To: root\nDate: d\nMessage-ID: <m@x>\n\n")).headers
        try changes(.keep).apply(to: &h)
        #expect(h.bytes.text == "To: root\r\nDate: d\r\nMessage-ID: <m@x>\r\n")
    }
}
