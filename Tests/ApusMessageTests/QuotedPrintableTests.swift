import ApusMessage
import ApusTestSupport
import Testing

@Suite struct QuotedPrintableTests {
    @Test(arguments: [
        ("plain", "plain\r\n"),
        ("caf\u{e9} = 1", "caf=C3=A9 =3D 1\r\n"),
        ("trailing space ", "trailing space=20\r\n"),
        ("trailing tab\t", "trailing tab=09\r\n"),
        ("bare\rCR", "bare=0DCR\r\n"),
        ("", "\r\n"),
    ])
    func encodesLines(line: String, expected: String) {
        var out: [UInt8] = []
        var e = QuotedPrintableEncoder()
        e.encode(line: Array(line.utf8), into: &out)
        #expect(out.text == expected)
    }

    @Test func longLinesGetSoftBreaksAndDecodeBack() {
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<200 {
            let lines: [[UInt8]] = (0..<Int.random(in: 1...5, using: &rng)).map { _ in
                (0..<Int.random(in: 0...2500, using: &rng)).map { _ in
                    [0x20, 0x09, 0x3D, 0x41, 0xC3, 0xA9, 0x0D, 0x2E].randomElement(using: &rng) ?? 0
                } as [UInt8]
            }
            var out: [UInt8] = []
            var e = QuotedPrintableEncoder()
            for line in lines {
                // Streamed in pieces, as MessageReader hands out long lines.
                for piece in line.chunks(of: 97) { e.encode(part: piece, into: &out) }
                e.endLine(into: &out)
            }
            let wireLines = out.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
            #expect(wireLines.allSatisfy { $0.count <= 77 && $0.last == 0x0D })
            #expect(
                wireLines.allSatisfy { l in
                    let c = l.dropLast()
                    return c.last != 0x20 && c.last != 0x09
                })
            #expect(!out.contains { $0 >= 0x80 })
            let expected: [UInt8] = lines.flatMap { $0 + [13, 10] }
            #expect(QuotedPrintableEncoder.decode(out) == expected)
        }
    }

    @Test func overLongSingleTextIsConvertedAndOtherwiseRefused() throws {
        let long = String(repeating: "a", count: 1200)
        let text = try readAllWays(bytes("Subject: x\n\n" + long + "\n"))
        #expect(text.transfer(serverHas8BITMIME: true, convertEightBit: false) == .quotedPrintable)
        let multi = try readAllWays(bytes("Content-Type: multipart/mixed; boundary=b\n\n" + long + "\n"))
        #expect(multi.transfer(serverHas8BITMIME: true, convertEightBit: true) == .refuse(.lineTooLong))
        let b64 = try readAllWays(
            bytes("Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n" + long + "\n"))
        #expect(b64.transfer(serverHas8BITMIME: true, convertEightBit: true) == .refuse(.lineTooLong))
    }

    @Test func eightBitDecisions() throws {
        let r = try readAllWays(bytes("Subject: x\n\ncaf\u{e9}\n"))
        #expect(r.transfer(serverHas8BITMIME: true, convertEightBit: true) == .asIs(needs8BITMIME: true))
        #expect(r.transfer(serverHas8BITMIME: false, convertEightBit: true) == .quotedPrintable)
        #expect(r.transfer(serverHas8BITMIME: false, convertEightBit: false) == .asIs(needs8BITMIME: false))
        let ascii = try readAllWays(bytes("Subject: x\n\nplain\n"))
        #expect(ascii.transfer(serverHas8BITMIME: false, convertEightBit: true) == .asIs(needs8BITMIME: false))
    }

    @Test func convertedHeadersReplaceTheEncodingAndAddMIMEVersion() throws {
        let cron = try readAllWays(try fixture("debian-cron.eml"), dotTerminates: false).headers
        let converted = BodyTransfer.convertingHeadersToQuotedPrintable(cron)
        #expect(converted.map(\.nameString) == cron.map(\.nameString))
        #expect(converted.first(named: "Content-Transfer-Encoding")?.valueString == "quoted-printable")
        let bare = try readAllWays(
            bytes("Subject: x\nContent-Transfer-Encoding: 8bit\ncontent-transfer-encoding: 8bit\n\n")
        ).headers
        let c2 = BodyTransfer.convertingHeadersToQuotedPrintable(bare)
        #expect(c2.bytes.text == "Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\nMIME-Version: 1.0\r\n")
    }
}
