/// When to try a deferred message again, and when to give up on it.
///
/// `retry` in apus.conf is a list of intervals in seconds: the first applies
/// after the first failed attempt, the second after the second, and the last
/// repeats for ever (until `queue_lifetime` has passed since arrival).
package struct RetryPolicy: Equatable, Sendable {
    /// Seconds to wait after the 1st, 2nd, … failed attempt; the last repeats.
    /// An empty list means "retry at every queue run" (an interval of 0).
    package var intervals: [Int64]
    /// Seconds from arrival after which a message still queued fails for good.
    package var lifetime: Int64

    /// A policy from the configured intervals and lifetime (both in seconds).
    package init(intervals: [Int64], lifetime: Int64) {
        self.intervals = intervals.map { max(0, $0) }
        self.lifetime = lifetime
    }

    /// The wait after `attempts` failed attempts (1 = after the first one).
    package func interval(afterAttempts attempts: Int) -> Int64 {
        guard let last = intervals.last else { return 0 }
        let index = max(0, attempts - 1)
        return index < intervals.count ? intervals[index] : last
    }

    /// The time of the next attempt, given that `attempts` have failed and the
    /// last one ended at `now` (Unix seconds).
    package func nextAttempt(afterAttempts attempts: Int, now: Int64) -> Int64 {
        let (sum, overflow) = now.addingReportingOverflow(interval(afterAttempts: attempts))
        return overflow ? Int64.max : sum
    }

    /// Whether a message that arrived at `arrival` has outlived the queue
    /// lifetime at `now` (it has when `now - arrival >= lifetime`).
    package func isExpired(arrival: Int64, now: Int64) -> Bool {
        let (age, overflow) = now.subtractingReportingOverflow(arrival)
        return !overflow && age >= lifetime
    }
}
