import ApusMessage
import Testing

@Suite struct EnvelopeAddressTests {
    @Test(arguments: [
        ("user", "<user>", true),
        ("user@domain.example", "<user@domain.example>", false),
        ("Name <user@domain.example>", "<user@domain.example>", false),
        ("\"Full, Name\" <user@domain.example>", "<user@domain.example>", false),
        ("<user@domain.example>", "<user@domain.example>", false),
        ("user@domain.example (Comment Name)", "<user@domain.example>", false),
        ("<>", "<>", false),
        (" < > ", "<>", false),
        ("www-data", "<www-data>", true),
        ("<@relay.example:user@domain.example>", "<user@domain.example>", false),
    ])
    func parsesCommandLineForms(input: String, path: String, unqualified: Bool) throws {
        let a = try EnvelopeAddress.parse(input)
        #expect(a.smtpPath.text == path)
        #expect(a.isUnqualified == unqualified)
    }

    @Test(arguments: [
        ("", AddressError.Reason.missingAddress, 0),
        ("a@b, c@d", .multipleAddresses, 3),
        ("a@b\r\nDATA", .forbiddenByte(13), 3),
        ("a@b>", .unexpectedCharacter(62), 3),
        ("<a@b", .unterminatedAngleAddress, 0),
        ("G: a@b;", .nestedGroup, 1),
        ("a b@c", .expected("'.' or '@'"), 2),
    ])
    func refuses(input: String, reason: AddressError.Reason, offset: Int) {
        #expect(throws: AddressError(offset: offset, reason: reason)) { try EnvelopeAddress.parse(input) }
    }

    @Test func qualifyAndSMTPUTF8() throws {
        let a = try #require(try EnvelopeAddress.parse("root").mailbox)
        let q = try a.qualified(with: bytes("example.com"))
        #expect(q.smtpPath.text == "<root@example.com>" && q.isQualified)
        #expect(throws: AddressError.self) { try a.qualified(with: bytes("bad domain")) }
        #expect(try EnvelopeAddress.parse("jörg@example.com").needsSMTPUTF8)
        #expect(try EnvelopeAddress.parse("user@bücher.example").needsSMTPUTF8)
        #expect(try !EnvelopeAddress.parse("user@example.com").needsSMTPUTF8)
        #expect(!EnvelopeAddress.null.needsSMTPUTF8 && !EnvelopeAddress.null.isUnqualified)
    }
}
