import Testing

@Test func ApusSMTPBuilds() { #expect(Bool(true)) }
