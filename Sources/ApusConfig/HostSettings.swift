/// The host-wide settings: `queue`, `queue_dir`, `queue_lifetime`, `retry`,
/// `bounce`, `log`. They may stand only before the first `account` line.
package struct HostSettings: Equatable, Sendable {
    /// `queue`: queue on temporary failure (default true; false: exit 75 instead).
    package var queue: Bool
    /// `queue_dir` (default `/var/spool/apus`).
    package var queueDirectory: String
    /// `queue_lifetime` in seconds (default 5 days).
    package var queueLifetime: Int64
    /// `retry`: the delays between attempts in seconds, the last repeating
    /// (default 5m 15m 1h 4h).
    package var retryIntervals: [Int64]
    /// `bounce`: send a failure notice when a queued message fails (default true).
    package var bounce: Bool
    /// `log` (default syslog).
    package var log: LogTarget

    /// The defaults of config.md.
    package init() {
        queue = true
        queueDirectory = "/var/spool/apus"
        queueLifetime = 5 * 86400
        retryIntervals = [5 * 60, 15 * 60, 3600, 4 * 3600]
        bounce = true
        log = .syslog
    }

    /// The host-wide keys.
    package static let keys: Set<String> = Set(names)

    /// The host-wide keys as a list: what ``isKey(_:)`` searches.
    static let names = ["queue", "queue_dir", "queue_lifetime", "retry", "bounce", "log"]

    /// Whether `key` is host-wide: a search of ``names``, so that parsing a
    /// configuration hashes no key and builds no set (``keys`` is for the
    /// error path).
    static func isKey(_ key: String) -> Bool { names.contains(key) }

    /// Applies one host-wide line. Throws ``ValueError``.
    mutating func apply(key: String, value: String) throws(ValueError) {
        if value.isEmpty { throw ValueError("missing value for '\(key)'") }
        switch key {
        case "queue": queue = try ValueParsing.onOff(value)
        case "queue_dir": queueDirectory = try ValueParsing.path(value)
        case "queue_lifetime": queueLifetime = try ValueParsing.duration(value)
        case "retry": retryIntervals = try ValueParsing.durationList(value)
        case "bounce": bounce = try ValueParsing.onOff(value)
        case "log": log = try ValueParsing.log(value)
        default: preconditionFailure("HostSettings.apply called with \(key)")
        }
    }
}
