import Testing

@Test func ApusConfigBuilds() { #expect(Bool(true)) }
