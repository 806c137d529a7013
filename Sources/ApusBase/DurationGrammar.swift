/// The one duration grammar apus reads, for configuration values
/// (`queue_lifetime 5d`, `retry 5m 15m 1h 4h`) and for `-q30m`.
///
/// A duration is one or more terms, each a decimal number of 1 to 9 digits
/// followed by a unit: `s`, `m`, `h`, `d` or `w` (sendmail's letters), written
/// together: `30m`, `1h30m`, `2w`. A trailing number without a unit is allowed
/// only where the caller names its unit (sendmail reads `-q30` as minutes).
/// The total is at most 9,999 weeks; zero is returned as zero (callers decide
/// whether it is allowed).
package enum DurationGrammar {
    /// Seconds per unit letter.
    static func unitSeconds(_ unit: UInt8) -> Int64? {
        switch unit {
        case UInt8(ascii: "s"): return 1
        case UInt8(ascii: "m"): return 60
        case UInt8(ascii: "h"): return 3600
        case UInt8(ascii: "d"): return 86400
        case UInt8(ascii: "w"): return 604800
        default: return nil
        }
    }

    /// The seconds `text` stands for, or nil when it is not a duration.
    /// - Parameter bareNumberUnit: the seconds a trailing number without a
    ///   unit counts in (60 for `-q`), or nil to refuse one.
    package static func seconds(_ text: String, bareNumberUnit: Int64? = nil) -> Int64? {
        var total: Int64 = 0
        var number: Int64 = 0
        var digits = 0
        for byte in text.utf8 {
            if byte >= 0x30 && byte <= 0x39 {
                number = number * 10 + Int64(byte - 0x30)
                digits += 1
                if digits > 9 { return nil }
                continue
            }
            guard digits > 0, let scale = unitSeconds(byte) else { return nil }
            total += number * scale
            number = 0
            digits = 0
        }
        if digits > 0 {
            guard let bareNumberUnit else { return nil }
            total += number * bareNumberUnit
        }
        guard !text.isEmpty, total <= 9_999 * 604_800 else { return nil }
        return total
    }
}
