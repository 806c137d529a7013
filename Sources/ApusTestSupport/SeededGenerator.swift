import Glibc

/// A deterministic random number generator (SplitMix64) for randomized tests.
///
/// Each test that draws random input starts one with ``fromEnvironment()``: the
/// seed is `APUS_TEST_SEED` when set, else a fresh one; ``note`` names it, so a
/// failure message tells how to replay exactly that input.
package struct SeededGenerator: RandomNumberGenerator, Sendable {
    /// The seed this generator started from.
    package let seed: UInt64
    private var state: UInt64

    /// Starts from `seed`.
    package init(seed: UInt64) {
        self.seed = seed
        state = seed
    }

    /// Starts from `APUS_TEST_SEED` (decimal or 0x-hex) when it is set, else a random seed.
    package static func fromEnvironment() -> SeededGenerator {
        if let text = getenv("APUS_TEST_SEED").map({ String(cString: $0) }) {
            let parsed = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
            if let parsed { return SeededGenerator(seed: parsed) }
        }
        return SeededGenerator(seed: UInt64.random(in: 0...UInt64.max))
    }

    /// "seed 0x…; replay with APUS_TEST_SEED=0x…", for failure messages.
    package var note: String {
        let hex = "0x" + String(seed, radix: 16)
        return "seed \(hex); replay with APUS_TEST_SEED=\(hex)"
    }

    /// The next 64 random bits.
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
