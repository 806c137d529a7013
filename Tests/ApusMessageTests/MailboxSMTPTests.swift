import Testing

@testable import ApusMessage

/// RFC 5321 syntax of the addresses apus sends (Mailbox+SMTP.swift).
struct MailboxSMTPTests {
    @Test(arguments: [
        "user@example.com", "\"john doe\"@example.com", "\"a.(b)c\"@example.com", "a.b+c@sub.example.com",
        "user@[192.0.2.1]", "user@[IPv6:2001:db8::1]", "user@[x-tag:abc.def]", "jörg@bücher.example",
        "user@mail_relay.internal",
    ])
    func accepts(address: String) throws {
        let mailbox = try #require(try EnvelopeAddress.parse(address).mailbox)
        try mailbox.checkSMTPSyntax()
    }

    @Test(arguments: [
        "\"a\tb\"@example.com",  // TAB in a quoted string: not RFC 5321
        "user@ex!ample.com", "user@-example.com", "user@example-.com", "user@[1.2.3]", "user@[256.1.1.1]",
        "user@[abc]", "user@[IPv6:xyz]", "user@[:x]", "user",
    ])
    func refuses(address: String) throws {
        let mailbox = try #require(try EnvelopeAddress.parse(address).mailbox)
        #expect(throws: AddressError.self) { try mailbox.checkSMTPSyntax() }
    }

    @Test func refusesOverlongAddresses() throws {
        let mailbox = try Mailbox(localPart: String(repeating: "a", count: 990), domain: "example.com")
        #expect(throws: AddressError.self) { try mailbox.checkSMTPSyntax() }
    }

    /// A quoted local part stays quoted when the mailbox is qualified: what is sent is what was parsed.
    @Test func qualifyingKeepsTheQuotedLocalPart() throws {
        for (input, expected) in [("\"a.(b)c\"", "\"a.(b)c\"@example.com"), ("\" root\"", "\" root\"@example.com")] {
            let mailbox = try #require(try EnvelopeAddress.parse(input).mailbox)
            let qualified = try mailbox.qualified(with: Array("example.com".utf8))
            #expect(String(decoding: qualified.addrSpec, as: UTF8.self) == expected)
            try qualified.checkSMTPSyntax()
        }
    }
}
