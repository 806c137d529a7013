import ApusTransport
import Testing

@Suite struct ServerAddressTests {
    static let good: [(String, String, UInt16)] = [
        ("mail.example.com", "mail.example.com", 25),
        ("mail.example.com:587", "mail.example.com", 587),
        ("localhost", "localhost", 25),
        ("192.0.2.1", "192.0.2.1", 25),
        ("192.0.2.1:2525", "192.0.2.1", 2525),
        ("[::1]:587", "::1", 587),
        ("[::1]", "::1", 25),
        ("::1", "::1", 25),
        ("2001:db8::5", "2001:db8::5", 25),
        ("[2001:db8::5]:465", "2001:db8::5", 465),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1", 25),
        ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8", 25),
        ("fe80::1%eth0", "fe80::1%eth0", 25),
        ("smtp_relay.example", "smtp_relay.example", 25),
    ]

    @Test(arguments: good)
    func parses(text: String, host: String, port: UInt16) throws {
        let address = try ServerAddress(parsing: text, defaultPort: 25)
        #expect(address.host == host)
        #expect(address.port == port)
    }

    static let bad: [(String, String)] = [
        ("", "empty"),
        (":25", "empty host"),
        ("host:", "bad port"),
        ("host:0", "bad port"),
        ("host:65536", "bad port"),
        ("host:25x", "bad port"),
        ("host:-1", "bad port"),
        ("[::1", "missing ']'"),
        ("[::1]x", "after ']'"),
        ("[::1]:", "bad port"),
        ("[mail.example.com]:25", "IPv6"),
        ("a:b:c", "too many ':'"),
        ("1:2:3:4:5:6:7:8:9", "too many ':'"),
        ("2001:db8::5:25:1::2", "too many ':'"),
        ("mail example.com", "bad character"),
        ("mail..example.com", "empty label"),
        ("mail/example", "bad character"),
    ]

    @Test(arguments: bad)
    func rejects(text: String, words: String) {
        #expect {
            try ServerAddress(parsing: text, defaultPort: 25)
        } throws: { error in
            let text = String(describing: error)
            return error is ServerAddressError && text.contains(words) && text.hasPrefix("bad server name")
        }
    }

    @Test func hostAndPort() throws {
        let plain = try ServerAddress(host: "mx.example.org", port: 2525)
        #expect(plain.description == "mx.example.org:2525")
        let v6 = try ServerAddress(host: "[::1]", port: 25)
        #expect(v6.host == "::1")
        #expect(v6.description == "[::1]:25")
        #expect(v6.isAddressLiteral)
        #expect(!plain.isAddressLiteral)
        #expect(throws: ServerAddressError.self) { try ServerAddress(host: "", port: 25) }
        #expect(throws: ServerAddressError.self) { try ServerAddress(host: "[nope]", port: 25) }
    }

    @Test func defaultPortIsTheCallers() throws {
        #expect(try ServerAddress(parsing: "relay", defaultPort: ServerAddress.submissionPort).port == 587)
        #expect(ServerAddress.smtpPort == 25)
    }
}
