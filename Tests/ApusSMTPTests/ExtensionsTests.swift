import Testing

@testable import ApusSMTP

struct ExtensionsTests {
    @Test func parsesKnownAndUnknownKeywords() {
        let e = Extensions(ehloLines: [
            "mx.example greets you", "PIPELINING", "SIZE 10240000", "chunking", "8BITMIME", "SMTPUTF8", "DSN",
            "STARTTLS", "ENHANCEDSTATUSCODES", "AUTH PLAIN login CRAM-MD5", "AUTH=PLAIN XOAUTH2", "VRFY",
            "X-FOO bar baz",
        ])
        #expect(e.pipelining && e.chunking && e.eightBitMIME && e.smtpUTF8 && e.dsn && e.startTLS)
        #expect(e.enhancedStatusCodes && e.size)
        #expect(e.sizeLimit == 10_240_000)
        #expect(e.authMechanisms == ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"])
        #expect(e.others["VRFY"] == [])
        #expect(e.others["X-FOO"] == ["bar", "baz"])
    }

    @Test func greetingLineIsNotAKeyword() {
        let e = Extensions(ehloLines: ["PIPELINING is my name"])
        #expect(!e.pipelining)
    }

    @Test func sizeWithoutLimit() {
        #expect(Extensions(ehloLines: ["x", "SIZE"]).sizeLimit == nil)
        #expect(Extensions(ehloLines: ["x", "SIZE 0"]).sizeLimit == nil)
        #expect(Extensions(ehloLines: ["x", "SIZE 0"]).size)
    }

    @Test(
        arguments: [
            (["PLAIN", "LOGIN", "SCRAM-SHA-256", "CRAM-MD5"], "SCRAM-SHA-256"),
            (["LOGIN", "PLAIN"], "PLAIN"),
            (["LOGIN", "CRAM-MD5"], "CRAM-MD5"),
            (["XOAUTH2"], nil),
            ([], nil),
        ] as [([String], String?)])
    func strongestMechanism(offered: [String], expected: String?) {
        let e = Extensions(ehloLines: ["x", "AUTH " + offered.joined(separator: " ")])
        #expect(e.strongestMechanism() == expected)
    }

    @Test func tokenMechanismOnlyWhenAsked() {
        let e = Extensions(ehloLines: ["x", "AUTH XOAUTH2 PLAIN"])
        #expect(e.strongestMechanism(preference: ["xoauth2"]) == "XOAUTH2")
    }
}
