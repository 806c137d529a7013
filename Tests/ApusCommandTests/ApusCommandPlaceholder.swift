import Testing

@Test func ApusCommandBuilds() { #expect(Bool(true)) }
