import Testing

@Test func ApusTransportBuilds() { #expect(Bool(true)) }
