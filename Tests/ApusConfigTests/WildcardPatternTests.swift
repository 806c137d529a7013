import Testing

@testable import ApusConfig

struct WildcardPatternTests {
    @Test(arguments: [
        ("*", "", true),
        ("*", "anything@x", true),
        ("*@example.com", "a@example.com", true),
        ("*@example.com", "a@EXAMPLE.com", true),
        ("*@example.com", "A@example.com", true),
        ("*@example.com", "a@example.com.evil", false),
        ("*@example.com", "a@sub.example.com", false),
        ("*@*.example.com", "a@sub.example.com", true),
        ("?@x", "a@x", true),
        ("?@x", "ab@x", false),
        ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXbY", false),
        ("**", "x", true),
        ("a?c", "ac", false),
        ("exact@x", "exact@x", true),
        ("exact@x", "exact@y", false),
        ("*a*a*a*a*a*a*b", String(repeating: "a", count: 200), false),
    ])
    func matches(pattern: String, text: String, expected: Bool) {
        #expect(WildcardPattern(pattern).matches(text) == expected)
    }
}
