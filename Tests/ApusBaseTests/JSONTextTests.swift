import ApusBase
import Foundation
import Testing

/// One JSON string literal writer for mailq --json and the JWT claims.
@Suite struct JSONTextTests {
    @Test(arguments: [
        "", "plain", "q\"b\\s", "\u{0}\u{1}\u{1F}\u{7F}", "tab\tcr\rlf\n\u{8}\u{C}", "ünï 😀", "\u{2028}\u{2029}",
    ])
    func literalsParseBack(_ text: String) throws {
        let literal = JSONText.literal(text)
        let decoded = try JSONSerialization.jsonObject(with: Data("[\(literal)]".utf8)) as? [String]
        #expect(decoded == [text])
        #expect(!literal.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || $0 == "\u{2028}" })
    }

    @Test func shortEscapesWhereJSONHasThem() {
        #expect(JSONText.literal("a\"b\\c\nd\re\tf\u{8}g\u{C}h") == #""a\"b\\c\nd\re\tf\bg\fh""#)
        #expect(JSONText.literal("\u{1}\u{7F}\u{2028}") == #""\u0001\u007f\u2028""#)
    }
}
