import Testing

@Test func ApusEndToEndBuilds() { #expect(Bool(true)) }
