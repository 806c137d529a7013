import ApusBase
import Testing

/// The one duration grammar (config values and `-q`).
@Suite struct DurationGrammarTests {
    @Test(
        arguments: [
            ("30s", 30), ("5m", 300), ("1h", 3600), ("5d", 432_000), ("2w", 1_209_600), ("1h30m", 5400),
            ("0m", 0), ("999999999s", 999_999_999),
        ] as [(String, Int64)])
    func durations(text: String, seconds: Int64) {
        #expect(DurationGrammar.seconds(text) == seconds)
    }

    @Test(arguments: ["", "m", "30", "1x", "1h 30m", "-5m", "1234567890s", "5m30", "９m", "10000w"])
    func notDurations(text: String) {
        #expect(DurationGrammar.seconds(text) == nil)
    }

    @Test func aBareNumberCountsInTheCallersUnit() {
        #expect(DurationGrammar.seconds("30", bareNumberUnit: 60) == 1800)
        #expect(DurationGrammar.seconds("1h30", bareNumberUnit: 60) == 5400)
        #expect(DurationGrammar.seconds("", bareNumberUnit: 60) == nil)
    }
}
