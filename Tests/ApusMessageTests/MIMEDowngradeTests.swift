import ApusMessage
import Testing

@Suite struct MIMEDowngradeTests {
    /// Runs both passes over `body` (LF lines) and returns headers + body text.
    func downgrade(_ headerText: String, _ body: [UInt8]) throws -> (headers: String, body: String) {
        let headers = try readAllWays(bytes(headerText + "\n")).headers
        var lines = body.split(separator: 0x0A, omittingEmptySubsequences: false)
        if body.last == 0x0A { lines.removeLast() }
        var scan = MIMEDowngrade(headers: headers)
        var ignored: [UInt8] = []
        for line in lines { scan.feed(line: line, into: &ignored) }
        let analysis = scan.finish(into: &ignored)
        #expect(ignored.isEmpty, "the first pass writes nothing")
        var pass = MIMEDowngrade(headers: headers, analysis: analysis)
        var out: [UInt8] = []
        for line in lines { pass.feed(line: line, into: &out) }
        pass.finish(into: &out)
        return (pass.headers.bytes.text, out.text)
    }

    @Test func sevenBitMessageIsUnchanged() throws {
        let body = bytes("--b\nContent-Type: text/plain\n\nhello\n--b--\n")
        let result = try downgrade("Content-Type: multipart/mixed; boundary=b\n", body)
        #expect(result.body == "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n")
    }

    @Test func eightBitPartGetsQuotedPrintableAndOnlyThatPart() throws {
        let body = bytes(
            "--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\ncaf\u{e9}\n--b\n\nascii\n--b--\n"
        )
        let result = try downgrade(
            "Content-Type: multipart/mixed; boundary=\"b\"\nContent-Transfer-Encoding: 8bit\n", body)
        #expect(result.headers.contains("Content-Transfer-Encoding: 7bit\r\n"))
        #expect(
            result.body
                == "--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n--b\r\n\r\nascii\r\n--b--\r\n"
        )
    }

    @Test func partWithoutContentTypeGetsACharset() throws {
        let body: [UInt8] = bytes("--b\n\n") + [0xE9, 0x0A] + bytes("--b--\n")
        let result = try downgrade("Content-Type: multipart/mixed; boundary=b\n", body)
        #expect(
            result.body.contains(
                "Content-Type: text/plain; charset=unknown-8bit\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E9\r\n"
            ))
    }

    @Test func base64ForNonTextKeepsTheDelimiterLineEnd() throws {
        let body: [UInt8] = bytes("--b\nContent-Type: image/x\n\n") + [0xFF, 0x0A, 0xFE] + bytes("\n--b--\n")
        let result = try downgrade("Content-Type: multipart/mixed; boundary=b\n", body)
        // 0xFF CR LF 0xFE: the CRLF before the boundary belongs to the boundary.
        #expect(
            result.body.contains("Content-Transfer-Encoding: base64\r\n\r\n/w0K/g==\r\n--b--\r\n"), "\(result.body)")
    }

    @Test func oversizedPartHeaderIsPassedThrough() throws {
        var body = bytes("--b\n")
        for n in 0..<1100 { body += bytes("X-Filler-\(n): x\n") }
        body += bytes("\n") + [0xE9, 0x0A] + bytes("--b--\n")
        let result = try downgrade("Content-Type: multipart/mixed; boundary=b\n", body)
        #expect(!result.body.contains("quoted-printable"))
        let asWritten = body.flatMap { $0 == 0x0A ? [0x0D, 0x0A] : [$0] }
        #expect(result.body == asWritten.text)
    }

    @Test(arguments: [
        ([0x61, 0xC3, 0xA9] as [UInt8], true), ([0xE2, 0x82, 0xAC], true), ([0xF0, 0x9F, 0x98, 0x80], true),
        ([0xC0, 0xAF], false), ([0xE0, 0x80, 0xAF], false), ([0xED, 0xA0, 0x80], false),
        ([0xF4, 0x90, 0x80, 0x80], false),
        ([0xC3], false), ([0xFF], false), ([0xE9], false),
    ])
    func utf8Validation(input: [UInt8], valid: Bool) {
        #expect(UTF8Validation.isValid(input) == valid)
        var split = UTF8Validation()
        for byte in input { split.feed([byte]) }
        #expect(split.isComplete == valid)
    }
}
