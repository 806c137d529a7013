import Testing

@Test func ApusPOSIXBuilds() { #expect(Bool(true)) }
