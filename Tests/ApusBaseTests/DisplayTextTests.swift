import ApusBase
import Testing

@Suite struct DisplayTextTests {
    @Test func controlsNeverPass() {
        let hostile = "a\r\nRCPT TO:<x>\u{0}\u{7F}\tb"
        #expect(DisplayText.oneLine(hostile) == "a??RCPT TO:<x>???b")
        #expect(DisplayText.oneLine(hostile, controls: .space) == "a  RCPT TO:<x>   b")
        #expect(DisplayText.oneLine(hostile, controls: .escaped) == "a\\r\\nRCPT TO:<x>\\x00\\x7F\\tb")
    }

    @Test func limitsAndNonASCII() {
        #expect(DisplayText.oneLine("jörg", asciiOnly: true) == "j?rg")
        #expect(DisplayText.oneLine("jörg") == "jörg")
        #expect(DisplayText.oneLine("abcdef", limit: 3) == "abc…")
        #expect(DisplayText.oneLine("abc", limit: 3) == "abc")
        #expect(DisplayText.oneLine("abcdef", limit: 2, ellipsis: "...") == "ab...")
    }
}
