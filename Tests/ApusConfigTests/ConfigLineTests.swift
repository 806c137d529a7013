import Testing

@testable import ApusConfig

struct ConfigLineTests {
    @Test(arguments: [
        ("host smtp.example.com", "host", "smtp.example.com", false),
        ("  host\t  smtp.example.com  \t", "host", "smtp.example.com", false),
        ("password \"  two blanks  \"", "password", "  two blanks  ", true),
        ("password \"with # hash\"", "password", "with # hash", true),
        ("password with # hash", "password", "with # hash", false),
        ("password \"a\\\"b\\\\c\"", "password", "a\"b\\c", true),
        ("password \"\"", "password", "", true),
        ("defaults", "defaults", "", false),
        ("user a b c", "user", "a b c", false),
    ])
    func splitsKeyAndValue(line: String, key: String, value: String, quoted: Bool) throws {
        let parsed = try #require(try ConfigLine.parse(TextLine(number: 3, text: line), file: "f"))
        #expect(parsed.key == key)
        #expect(parsed.value == value)
        #expect(parsed.wasQuoted == quoted)
        #expect(parsed.number == 3)
    }

    @Test(arguments: ["", "   ", "# comment", "   # indented comment", "\t"])
    func skipsBlankAndComment(line: String) throws {
        #expect(try ConfigLine.parse(TextLine(number: 1, text: line), file: "f") == nil)
    }

    @Test(arguments: [
        ("password \"unterminated", "missing closing quote"),
        ("password \"a\" b", "text after the closing quote"),
        ("password \"a\\nb\"", "bad escape"),
        ("password \"a\\\"", "missing closing quote"),
    ])
    func refusesBadQuoting(line: String, message: String) {
        #expect {
            _ = try ConfigLine.parse(TextLine(number: 7, text: line), file: "f")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.kind == .syntax && error.line == 7 && error.message.contains(message)
        }
    }

    @Test func splitsLinesWithLimits() throws {
        let lines = try splitLines(Array("a 1\r\nb 2\n\nc 3".utf8), file: "f")
        #expect(lines.map(\.text) == ["a 1", "b 2", "", "c 3"])
        #expect(lines.map(\.number) == [1, 2, 3, 4])
        #expect(throws: ConfigError.self) { try splitLines(Array(repeating: 0x61, count: 4097), file: "f") }
        #expect((try? splitLines(Array(repeating: 0x61, count: 4096), file: "f"))?.count == 1)
        #expect(throws: ConfigError.self) {
            try splitLines(Array(repeating: 0x0A, count: (1 << 20) + 1), file: "f")
        }
    }

    @Test(arguments: [[0x61, 0x00, 0x62], [0x61, 0x1B, 0x62], [0x61, 0xFF, 0x62], [0x61, 0x7F]] as [[UInt8]])
    func refusesControlBytesAndBadUTF8(bytes: [UInt8]) {
        #expect {
            _ = try splitLines([0x0A] + bytes, file: "f")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.kind == .syntax && error.line == 2
        }
    }
}
