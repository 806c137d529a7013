import Testing

@Test func ApusQueueBuilds() { #expect(Bool(true)) }
