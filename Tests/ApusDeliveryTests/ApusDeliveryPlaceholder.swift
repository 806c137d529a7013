import Testing

@Test func ApusDeliveryBuilds() { #expect(Bool(true)) }
