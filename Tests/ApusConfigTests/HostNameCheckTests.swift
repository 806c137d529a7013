import Testing

@testable import ApusConfig

/// `ValueParsing.isHostName` checks bytes in one pass; it must agree with the
/// label-by-label definition it replaced, on every input below.
struct HostNameCheckTests {
    static func byLabels(_ value: String) -> Bool {
        var name = Substring(value)
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-" else { return false }
            for byte in label.utf8 {
                let ok =
                    (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
                    || byte == 0x2D || byte == 0x5F
                if !ok { return false }
            }
        }
        return true
    }

    static let samples: [String] = [
        "", ".", "..", "a", "a.", "a..", ".a", "a.b", "a-b.c", "-a", "a-", "a.-b", "a-.b", "a_b", "127.0.0.1",
        "mail.example.org.", "x..y", "ex ample", "caf\u{E9}.org", "a.\u{301}", "A.B-C_D.e9", "a.b.", "a.b..",
        String(repeating: "a", count: 63), String(repeating: "a", count: 64),
        String(repeating: "a", count: 63) + ".b", String(repeating: "a.", count: 126) + "b",
        String(repeating: "a.", count: 126) + "bc", String(repeating: "a.", count: 127),
        String(repeating: "a.", count: 127) + ".", "a/b", "a:b", "[::1]", "\u{1F600}",
    ]

    @Test(arguments: samples)
    func agreesWithLabelDefinition(value: String) {
        #expect(ValueParsing.isHostName(value) == Self.byLabels(value), "\(value)")
    }
}
