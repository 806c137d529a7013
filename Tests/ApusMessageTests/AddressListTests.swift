import ApusMessage
import ApusTestSupport
import Testing

@Suite struct AddressListTests {
    /// Every RFC 5322 Appendix A message: each address header yields exactly these mailboxes.
    @Test(arguments: [
        ("rfc5322-A.1.1.eml", "From", ["John Doe|jdoe@machine.example"]),
        ("rfc5322-A.1.1.eml", "To", ["Mary Smith|mary@example.net"]),
        ("rfc5322-A.1.2.eml", "From", ["Joe Q. Public|john.q.public@example.com"]),
        ("rfc5322-A.1.2.eml", "To", ["Mary Smith|mary@x.test", "|jdoe@example.org", "Who?|one@y.test"]),
        ("rfc5322-A.1.2.eml", "Cc", ["|boss@nil.test", "Giant; \"Big\" Box|sysservices@example.net"]),
        ("rfc5322-A.1.3.eml", "From", ["Pete|pete@silly.example"]),
        ("rfc5322-A.1.3.eml", "To", ["Ed Jones|c@a.test", "|joe@where.test", "John|jdoe@one.test"]),
        ("rfc5322-A.1.3.eml", "Cc", []),
        ("rfc5322-A.2.eml", "From", ["Mary Smith|mary@example.net"]),
        ("rfc5322-A.2.eml", "To", ["John Doe|jdoe@machine.example"]),
        ("rfc5322-A.2.eml", "Reply-To", ["Mary Smith: Personal Account|smith@home.example"]),
        ("rfc5322-A.3.eml", "Resent-From", ["Mary Smith|mary@example.net"]),
        ("rfc5322-A.3.eml", "Resent-To", ["Jane Brown|j-brown@other.example"]),
        ("rfc5322-A.3.eml", "To", ["Mary Smith|mary@example.net"]),
        ("rfc5322-A.4.eml", "From", ["John Doe|jdoe@node.example"]),
        ("rfc5322-A.4.eml", "To", ["Mary Smith|mary@example.net"]),
        ("rfc5322-A.5.eml", "From", ["Pete|pete@silly.test"]),
        ("rfc5322-A.5.eml", "To", ["Chris Jones|c@public.example", "|joe@example.org", "John|jdoe@one.test"]),
        ("rfc5322-A.5.eml", "Cc", []),
        ("rfc5322-A.6.1.eml", "From", ["Joe Q. Public|john.q.public@example.com"]),
        ("rfc5322-A.6.1.eml", "To", ["Mary Smith|mary@example.net", "|jdoe@test.example"]),
        ("rfc5322-A.6.2.eml", "To", ["Mary Smith|mary@example.net"]),
        ("rfc5322-A.6.3.eml", "From", ["John Doe|jdoe@machine.example"]),
        ("rfc5322-A.6.3.eml", "To", ["Mary Smith|mary@example.net"]),
        ("debian-cron.eml", "From", ["|root"]),
        ("debian-cron.eml", "To", ["|root"]),
        ("mailx.eml", "To", ["|ops@example.com", "Backup Team|backup@example.com"]),
        (
            "git-send-email.eml", "Cc",
            ["Bob Reviewer|bob@example.net", "=?UTF-8?q?J=C3=B6rg=20M=C3=BCller?=|joerg@example.de"]
        ),
        ("php-mail.eml", "From", ["|shop@example.com"]),
    ])
    func appendixAMessagesYieldTheirAddresses(file: String, header: String, expected: [String]) throws {
        let r = try readAllWays(try fixture(file))
        let field = try #require(r.headers.first(named: header))
        let list = try AddressList.parse(field.value)
        #expect(list.mailboxes.map(describe) == expected)
        // Round trip: parse → format → parse gives the same addresses.
        let again = try AddressList.parse(list.formatted)
        #expect(again.mailboxes.map(describe) == expected)
        #expect(try again == AddressList.parse(again.formatted))
    }

    @Test func groupsAreKeptWithTheirNames() throws {
        let l = try AddressList.parse("A Group:Ed Jones <c@a.test>,joe@where.test;, undisclosed-recipients:;, x@y")
        #expect(l.items.count == 3)
        guard case .group(let name, let members) = l.items[0], case .group(let empty, let none) = l.items[1] else {
            Issue.record("expected two groups")
            return
        }
        #expect(name.text == "A Group" && members.count == 2)
        #expect(empty.text == "undisclosed-recipients" && none.isEmpty)
        #expect(l.formatted.text == "A Group: Ed Jones <c@a.test>, joe@where.test;, undisclosed-recipients:;, x@y")
    }

    @Test func commentsAndRoutesAreKeptAside() throws {
        let a5 = try AddressList.parse("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>").mailboxes[0]
        #expect(a5.comment?.text == "A nice ) chap")
        let cron = try AddressList.parse("root (Cron Daemon)").mailboxes[0]
        #expect(cron.comment?.text == "Cron Daemon" && !cron.isQualified)
        let nested = try AddressList.parse("a@b (outer (inner) done)").mailboxes[0]
        #expect(nested.comment?.text == "outer (inner) done")
        let routed = try AddressList.parse("<@a.test,@b.test:user@c.test>").mailboxes[0]
        #expect(routed.route.map(\.text) == ["a.test", "b.test"] && routed.addrSpec.text == "user@c.test")
        let routed2 = try AddressList.parse("Name <,@a.test,,@b.test:user@c.test>").mailboxes[0]
        #expect(routed2.route.count == 2 && routed2.displayName?.text == "Name")
    }

    @Test(arguments: [
        ("\"john doe\"@example.com", "\"john doe\"@example.com", "john doe"),
        ("\"john\\\"q\"@example.com", "\"john\\\"q\"@example.com", "john\"q"),
        ("\"simple\"@example.com", "simple@example.com", "simple"),
        ("john . doe @ example . com", "john.doe@example.com", "john.doe"),
        ("a.\"b c\".d@x", "\"a.b c.d\"@x", "a.b c.d"),
        ("user@[192.0.2.1]", "user@[192.0.2.1]", "user"),
        ("user@[IPv6:2001:db8::1]", "user@[IPv6:2001:db8::1]", "user"),
        ("jörg@bücher.example", "jörg@bücher.example", "jörg"),
        ("root", "root", "root"),
        ("Name <root>", "root", "root"),
        ("  spaced@x  ", "spaced@x", "spaced"),
    ])
    func localPartsAndDomains(input: String, addrSpec: String, local: String) throws {
        let m = try #require(try AddressList.parse(input).mailboxes.first)
        #expect(m.addrSpec.text == addrSpec)
        #expect(m.localPart.text == local)
    }

    @Test(arguments: [
        // input, reason, offset
        ("a@b\r\nBcc: evil@x", AddressError.Reason.forbiddenByte(13), 3),
        ("a@b\nRCPT TO:<x>", .forbiddenByte(10), 3),
        ("a\0@b", .forbiddenByte(0), 1),
        ("\"unterminated@x", .unterminatedQuotedString, 0),
        ("a@b (open", .unterminatedComment, 4),
        ("a@[1.2.3.4", .unterminatedDomainLiteral, 2),
        ("Name <a@b", .unterminatedAngleAddress, 5),
        ("a@b>", .unexpectedCharacter(62), 3),
        ("<a@b> <c@d>", .unexpectedCharacter(60), 6),
        ("Name <a<b@c>", .unexpectedCharacter(60), 7),
        ("G: a@b", .unterminatedGroup, 6),
        ("G: H: a@b;;", .nestedGroup, 4),
        ("a@b c@d", .expected("',' between addresses"), 4),
        ("John Smith", .expected("'.' or '@'"), 5),
        ("a..b@c", .expected("a word in the local part"), 2),
        ("a@", .expected("a domain"), 2),
        ("a@b.", .expected("a domain"), 4),
        ("<>", .emptyAddress, 1),
        ("a)b@c", .unexpectedCharacter(41), 1),
        ("a@[x]y]", .unexpectedCharacter(93), 6),
        ("x@y\\z", .unexpectedCharacter(92), 3),
        // An escape or white space inside a domain literal would change the address on the way.
        ("test@[a\\ b]", .unexpectedCharacter(92), 7),
        ("test@[a\\\tb]", .unexpectedCharacter(92), 7),
        ("test@[a b]", .unexpectedCharacter(32), 7),
        ("test@[ 1.2.3.4]", .unexpectedCharacter(32), 6),
    ])
    func refusesWithTheOffset(input: String, reason: AddressError.Reason, offset: Int) {
        #expect(throws: AddressError(offset: offset, reason: reason)) { try AddressList.parse(input) }
    }

    @Test func emptyElementsAndEmptyListsAreAccepted() throws {
        #expect(try AddressList.parse("").items.isEmpty)
        #expect(try AddressList.parse(" , ,").items.isEmpty)
        #expect(try AddressList.parse("a@b,,c@d").mailboxes.count == 2)
    }

    @Test func formattingQuotesAndEncodesNames() throws {
        let m = try Mailbox(localPart: "joe", domain: "x.test", displayName: "Joe Q. Public")
        #expect(m.formatted.text == "\"Joe Q. Public\" <joe@x.test>")
        let u = try Mailbox(localPart: "j", domain: "x.test", displayName: "Jörg Müller")
        #expect(u.formatted.text.hasPrefix("=?utf-8?"))
        let q = try Mailbox(localPart: "a b", domain: "x", displayName: "Plain Name")
        #expect(q.formatted.text == "Plain Name <\"a b\"@x>")
        #expect(try AddressList.parse(q.formatted).mailboxes == [q])
    }

    @Test func mailboxInitRefusesInjection() {
        #expect(throws: AddressError.self) { try Mailbox(localPart: "a\r\nRCPT TO:<x>", domain: "b") }
        #expect(throws: AddressError.self) { try Mailbox(localPart: "a", domain: "b>c") }
        #expect(throws: AddressError.self) { try Mailbox(localPart: "a", domain: "b\n") }
        #expect(throws: AddressError.self) { try Mailbox(localPart: "a", domain: "b", displayName: "x\ny") }
        #expect(throws: AddressError.self) { try Mailbox(localPart: "a", domain: "[1.2]3]") }
        #expect(throws: AddressError.self) { try Mailbox(localPart: "", domain: "b") }
        #expect(throws: AddressError.self) { try Mailbox(localPart: "a", domain: "b..c") }
        #expect((try? Mailbox(localPart: "a<b>", domain: "c"))?.smtpPath.text == "<\"a<b>\"@c>")
    }

    /// Random mailboxes: format, parse back, same addresses; and no formatted output contains CR, LF or NUL.
    @Test func roundTripProperty() throws {
        var rng = SeededGenerator(seed: 7)
        let localBytes = Array("abcXYZ019.!#$%&'*+-/=?^_`{|}~ \"\\(),:;<>@[]é".utf8)
        let domains = ["example.com", "x.test", "[192.0.2.7]", "bücher.example", "a-b.c-d.e"]
        let names = [nil, "Ann", "Joe Q. Public", "Giant; \"Big\" Box", "Jörg Müller", "=?utf-8?q?x?=", "a,b", "(c)"]
        for _ in 0..<500 {
            var list: [AddressList.Item] = []
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                var local = (0..<Int.random(in: 1...12, using: &rng)).map { _ in
                    localBytes.randomElement(using: &rng) ?? 0x61
                }
                if local.allSatisfy({ $0 == 0x20 }) { local = [0x61] }
                let name = names.randomElement(using: &rng) ?? nil
                let m = try Mailbox(
                    localPart: local, domain: Array((domains.randomElement(using: &rng) ?? "x").utf8),
                    displayName: name.map { Array($0.utf8) })
                list.append(.mailbox(m))
            }
            if Bool.random(using: &rng) {
                list = [
                    .group(
                        name: bytes("G"),
                        members: list.map {
                            if case .mailbox(let m) = $0 { return m }
                            return try! Mailbox(localPart: "z", domain: "z")
                        })
                ]
            }
            let formatted = AddressList(list).formatted
            #expect(!formatted.contains(13) && !formatted.contains(10) && !formatted.contains(0))
            let parsed = try AddressList.parse(formatted)
            #expect(
                parsed.mailboxes.map(\.addrSpec) == AddressList(list).mailboxes.map(\.addrSpec), "\(formatted.text)")
            #expect(parsed.mailboxes.map(\.localPart) == AddressList(list).mailboxes.map(\.localPart))
            let plainNames = AddressList(list).mailboxes.map { n -> [UInt8]? in
                guard let d = n.displayName, !d.contains(where: { $0 >= 0x80 }) else { return nil }
                return d
            }
            #expect(zip(parsed.mailboxes, plainNames).allSatisfy { $1 == nil || $0.displayName == $1 })
        }
    }
}
