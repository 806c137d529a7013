import ApusMessage
import Testing

@Suite struct HeaderFormatTests {
    @Test(arguments: [
        ("Subject", true), ("X-Cron-Env", true), ("", false), ("Sub ject", false), ("Sub:ject", false), ("Süb", false),
        ("A\r", false),
    ])
    func fieldNames(name: String, valid: Bool) {
        #expect(HeaderFormat.isValidName(Array(name.utf8)) == valid)
        #expect((try? HeaderField(name: name, value: "v")) != nil || !valid)
    }

    @Test func valuesCannotInjectHeaders() {
        for bad in ["a\r\nBcc: x", "a\nb", "a\rb", "a\0b"] {
            #expect(throws: MessageError.self) { try HeaderField(name: "Subject", value: bad) }
        }
    }

    @Test func foldingKeepsTheValueAndLineLengths() throws {
        let words = (0..<40).map { "word\($0)" }.joined(separator: " ")
        let f = try HeaderField(name: "Subject", value: words)
        #expect(f.valueString == words)
        let lines = f.raw.text.components(separatedBy: "\r\n").dropLast()
        #expect(lines.count > 1 && lines.allSatisfy { $0.utf8.count <= 78 })
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix(" ") })
        let unbreakable = String(repeating: "x", count: 200)
        #expect(try HeaderField(name: "X", value: unbreakable).raw.text == "X: \(unbreakable)\r\n")
    }

    @Test func rawFieldsAreChecked() throws {
        #expect(try HeaderField(raw: bytes("Subject: a\r\n b\r\n")).valueString == "a b")
        #expect(try HeaderField(raw: bytes("Subject: a")).raw.text == "Subject: a\r\n")
        #expect(throws: MessageError.self) { try HeaderField(raw: bytes("Subject: a\r\nTo: b\r\n")) }
        #expect(throws: MessageError.self) { try HeaderField(raw: bytes("no colon\r\n")) }
        #expect(throws: MessageError.self) { try HeaderField(raw: bytes("S: a\nb\r\n")) }
    }

    @Test(arguments: [
        "Hello", "Grüße aus Köln", "日本語のテキストを含む長い件名です。これは折り返しのテストです。", String(repeating: "é", count: 100),
        "=?utf-8?q?not_an_encoded_word?= really",
        "mixed ASCII with one ü and a lot more ASCII words after it to force several words",
    ])
    func encodedWordsStayShortAndWhole(text: String) {
        let encoded = HeaderFormat.encodeUnstructured(text)
        for word in encoded.split(separator: 0x20) where word.starts(with: bytes("=?")) {
            #expect(word.count <= 75)
            #expect(String(validating: decodeWord(Array(word)), as: UTF8.self) != nil)
        }
        if text.utf8.allSatisfy({ $0 < 0x80 }) && !text.contains("=?") {
            #expect(encoded.text == text)
        } else {
            #expect(encoded.split(separator: 0x20).map { decodeWord(Array($0)) }.reduce([], +).text == text)
        }
    }

    @Test func headersListOperations() throws {
        var h = try readAllWays(bytes("To: a\nX: 1\nto: b\nX-Resent: 3\n\n")).headers
        #expect(h.all(named: "TO").count == 2 && !h.contains(namePrefix: "Resent-"))
        h.replace(with: try HeaderField(name: "To", value: "c"))
        #expect(h.map(\.valueString) == ["c", "1", "3"])
        #expect(h.removeAll(named: "x") == 1)
    }
}

/// Decodes one RFC 2047 word (utf-8, B or Q) for the tests; other text is returned as is.
func decodeWord(_ word: [UInt8]) -> [UInt8] {
    let s = word.text
    guard s.hasPrefix("=?utf-8?"), s.hasSuffix("?="), s.count > 12 else { return word }
    let kind = s[s.index(s.startIndex, offsetBy: 8)]
    let payload = Array(word[10..<(word.count - 2)])
    if kind == "B" { return Base64.decode(payload) ?? [] }
    return QuotedPrintableEncoder.decode(payload.map { $0 == UInt8(ascii: "_") ? 0x20 : $0 })
}
