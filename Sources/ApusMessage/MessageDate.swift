import ApusBase
import Glibc

/// RFC 5322 §3.3 date-time values for the `Date:` header.
///
/// `format(secondsSinceEpoch:utcOffsetSeconds:)` is pure; `now()` reads the clock
/// and the local zone with Glibc (`time`, `localtime_r`, `tm_gmtoff`), without
/// Foundation.
public enum MessageDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Formats an instant as seen in a zone `utcOffsetSeconds` east of UTC:
    /// `Fri, 21 Nov 1997 09:55:06 -0600`.
    public static func format(secondsSinceEpoch: Int64, utcOffsetSeconds: Int) -> String {
        let local = secondsSinceEpoch + Int64(utcOffsetSeconds)
        var dayNumber = local / 86_400
        var secondOfDay = local % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            dayNumber -= 1
        }
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        let weekday = Int(((dayNumber % 7) + 11) % 7)  // 1970-01-01 was a Thursday
        let sign = utcOffsetSeconds < 0 ? "-" : "+"
        let offsetMinutes = abs(utcOffsetSeconds) / 60
        return "\(days[weekday]), \(day) \(months[Int(month) - 1]) \(year) "
            + "\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) "
            + "\(sign)\(two(Int64(offsetMinutes / 60)))\(two(Int64(offsetMinutes % 60)))"
    }

    private static func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// The current time in the local zone (honouring `TZ`), formatted.
    /// The corresponding C functions are `time` and `localtime_r`; the offset is `tm_gmtoff`.
    public static func now() -> String {
        var t = time(nil)
        var parts = tm()
        let offset = localtime_r(&t, &parts) != nil ? Int(parts.tm_gmtoff) : 0
        return format(secondsSinceEpoch: Int64(t), utcOffsetSeconds: offset)
    }
}

/// `Message-ID:` values: `<random@domain>`.
public enum MessageID {
    /// Builds `<hex@domain>` from `randomBytes` (lower-case hex).
    /// - Precondition: at least 16 random bytes (128 bits).
    public static func make(randomBytes: [UInt8], domain: String) -> String {
        precondition(randomBytes.count >= 16, "a Message-ID needs at least 128 random bits")
        return "<\(Hex.string(randomBytes, uppercase: false))@\(domain)>"
    }

    /// A new Message-ID with 128 bits from the kernel (`getentropy`).
    /// - Throws: `MessageError.randomUnavailable` if `getentropy` fails.
    public static func generate(domain: String) throws -> String {
        make(randomBytes: try randomBytes(16), domain: domain)
    }

    /// `count` bytes (at most 256) from the kernel's random source.
    /// The corresponding C function is `getentropy` (the `getrandom` system call).
    static func randomBytes(_ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let code = out.withUnsafeMutableBytes { SystemRandom.fill($0) }
        if code != 0 { throw MessageError.randomUnavailable(errno: code) }
        return out
    }
}
