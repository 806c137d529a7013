import Glibc

/// A point on the monotonic clock (`CLOCK_MONOTONIC`), set once per operation
/// and checked by every wait, so a silent peer ends in a timeout, never a hang.
public struct Deadline: Comparable, Sendable {
    /// Nanoseconds on the monotonic clock.
    public var nanoseconds: UInt64

    /// A deadline at an absolute monotonic time.
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The monotonic clock now. The corresponding C function is `clock_gettime`.
    public static var now: Deadline {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Deadline(nanoseconds: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
    }

    /// Never: for waits that must not time out.
    public static let distantFuture = Deadline(nanoseconds: UInt64.max / 2)

    /// `seconds` from now (fractions allowed; negative means already passed).
    public static func after(seconds: Double) -> Deadline {
        if seconds <= 0 { return .now }
        if seconds > 1e9 { return .distantFuture }
        return Deadline(nanoseconds: now.nanoseconds &+ UInt64(seconds * 1e9))
    }

    /// Milliseconds left, rounded up, at least 0, capped for `poll`.
    public var remainingMilliseconds: Int32 {
        let current = Deadline.now.nanoseconds
        if nanoseconds <= current { return 0 }
        let ms = (nanoseconds - current + 999_999) / 1_000_000
        return ms > UInt64(Int32.max) ? Int32.max : Int32(ms)
    }

    /// Whether the deadline has passed.
    public var hasPassed: Bool { Deadline.now.nanoseconds >= nanoseconds }

    /// Seconds elapsed from `start` to now.
    public static func seconds(since start: Deadline) -> Double {
        Double(now.nanoseconds &- start.nanoseconds) / 1e9
    }

    public static func < (a: Deadline, b: Deadline) -> Bool { a.nanoseconds < b.nanoseconds }
}
