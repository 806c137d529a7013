import ApusMessage
import Testing

@Suite struct RecipientsTests {
    func headers(_ text: String) throws -> Headers { try readAllWays(bytes(text + "\n")).headers }

    @Test func toCcAndBccInOrderGroupsIncluded() throws {
        let h = try headers(
            "To: a@x.test, G: b@x.test;\nCc: \"C\" <c@x.test>\nBcc: d@x.test\nReply-To: e@x.test\nFrom: f@x.test\n")
        #expect(
            try Recipients.extract(from: h).map(\.addrSpec.text) == ["a@x.test", "b@x.test", "c@x.test", "d@x.test"])
    }

    @Test func resentHeadersReplaceTheOthers() throws {
        let r = try readAllWays(try fixture("rfc5322-A.3.eml"))
        #expect(Recipients.fieldNames(for: r.headers) == ["Resent-To", "Resent-Cc", "Resent-Bcc"])
        #expect(try Recipients.extract(from: r.headers).map(\.addrSpec.text) == ["j-brown@other.example"])
        let h = try headers("To: a@x.test\nResent-Date: now\n")
        #expect(try Recipients.extract(from: h).isEmpty)
    }

    @Test func duplicatesIgnoreDomainCaseNotLocalPartCase() throws {
        let list = try AddressList.parse("a@X.test, A@x.test, a@x.TEST, \"a\"@x.test, b@y, root, root").mailboxes
        #expect(Recipients.removingDuplicates(list).map(\.addrSpec.text) == ["a@X.test", "A@x.test", "b@y", "root"])
    }

    @Test func envelopeAddsCommandLineQualifiesAndDeduplicates() throws {
        let h = try headers("To: root, ann@example.com\nCc: Ann <ANN@EXAMPLE.COM>\nBcc: undisclosed-recipients:;\n")
        let cli = try AddressList.parse("bob@example.com, root@example.com").mailboxes
        let all = try Recipients.envelope(commandLine: cli, headers: h, readHeaders: true) {
            try [$0.qualified(with: bytes("example.com"))]
        }
        #expect(
            all.map(\.addrSpec.text) == ["bob@example.com", "root@example.com", "ann@example.com", "ANN@EXAMPLE.COM"])
        let withoutT = try Recipients.envelope(commandLine: cli, headers: h, readHeaders: false)
        #expect(withoutT.count == 2)
    }

    @Test func aBadAddressNamesItsHeader() throws {
        let h = try headers("To: ok@x.test\nCc: a@b>\n")
        #expect(
            throws: MessageError.invalidAddressHeader(
                name: "Cc", error: AddressError(offset: 3, reason: .unexpectedCharacter(62)))
        ) {
            try Recipients.extract(from: h)
        }
    }

    @Test(arguments: ["debian-cron.eml", "logwatch.eml"])
    func toolsThatSendToRoot(file: String) throws {
        let r = try readAllWays(try fixture(file))
        let rcpts = try Recipients.extract(from: r.headers)
        #expect(rcpts.map(\.addrSpec.text) == ["root"] && !rcpts[0].isQualified)
    }

    @Test func phpAndMailxRecipients() throws {
        #expect(
            try Recipients.extract(from: readAllWays(try fixture("php-mail.eml")).headers).map(\.addrSpec.text) == [
                "customer@example.com"
            ])
        #expect(
            try Recipients.extract(from: readAllWays(try fixture("mailx.eml")).headers).map(\.addrSpec.text)
                == ["ops@example.com", "backup@example.com", "root"])
    }
}
