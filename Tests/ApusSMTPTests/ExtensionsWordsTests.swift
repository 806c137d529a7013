import Testing

@testable import ApusSMTP

/// `Extensions.words` cuts ASCII lines at bytes; it must give what cutting at
/// the Characters " " and "\t" gives, for every line.
struct ExtensionsWordsTests {
    static func byCharacters(_ line: String) -> [String] {
        line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    @Test(
        arguments: [
            "", " ", "\t\t", "PIPELINING", "AUTH PLAIN LOGIN", "  SIZE   10240000  ", "X-FOO\tbar \t baz\t",
            "XFORWARD NAME ADDR PROTO HELO", "a\r\nb c", "caf\u{E9} x", "x \u{301}y z", "\u{1F600}\t\u{1F600}",
        ])
    func wordsAreTheCharacterSplit(line: String) {
        #expect(Extensions.words(line) == Self.byCharacters(line))
    }

    @Test func smtpSinkReply() {
        let e = Extensions(ehloLines: [
            "smtp-sink", "PIPELINING", "8BITMIME", "AUTH PLAIN LOGIN", "XCLIENT NAME HELO",
            "XFORWARD NAME ADDR PROTO HELO", "ENHANCEDSTATUSCODES", "DSN", "",
        ])
        #expect(e.pipelining && e.eightBitMIME && e.enhancedStatusCodes && e.dsn && !e.size && !e.chunking)
        #expect(e.authMechanisms == ["PLAIN", "LOGIN"])
        #expect(e.others == ["XCLIENT": ["NAME", "HELO"], "XFORWARD": ["NAME", "ADDR", "PROTO", "HELO"]])
    }
}
