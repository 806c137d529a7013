import ApusPOSIX
import ApusQueue

/// What one queue run did, kept while it runs: per-message outcomes for
/// `-q -v`, every storage failure (logged at once, printed with `-v`), and
/// whether the run must stop because the queue can no longer be written.
///
/// A reference type so the run and its per-account groups share one record.
package final class QueueRunReport {
    /// Where `-v` lines go (stderr), or nil when not verbose.
    let verbose: ((String) -> Void)?
    /// The delivery log, which also gets the storage warnings.
    let log: DeliveryLog
    /// Messages the run sent for every pending recipient.
    package private(set) var sent = 0
    /// Messages deferred again.
    package private(set) var deferred = 0
    /// Messages that failed (for some recipient) in this run.
    package private(set) var failed = 0
    /// Messages moved to `corrupt/`.
    package private(set) var corrupt = 0
    /// Storage failures that no retry cured, oldest first (one line each).
    package private(set) var storageFailures: [String] = []
    /// Set after a failed envelope update or removal: the run sends nothing
    /// more (each further message could be sent again by the next run).
    package private(set) var stopped = false
    private var logFailureShown = false

    init(verbose: ((String) -> Void)?, log: DeliveryLog) {
        self.verbose = verbose
        self.log = log
    }

    /// Counts a message's outcome and, with `-v`, prints `apus: ID: text`.
    func message(_ id: QueueID, _ text: String, sent: Bool = false, deferred: Bool = false, failed: Bool = false) {
        if sent { self.sent += 1 }
        if deferred { self.deferred += 1 }
        if failed { self.failed += 1 }
        verbose?("apus: \(id.rawValue): \(text)\n")
    }

    /// Records a message moved to `corrupt/` (logged and printed with `-v`).
    func movedToCorrupt(_ id: QueueID, to path: String, reason: String) {
        corrupt += 1
        note("\(id.rawValue): moved to \(path): \(reason)")
    }

    /// A storage failure nothing cured: logged as a warning, printed with
    /// `-v`, counted for the exit status. `stop` ends the run's sending.
    func storageFailure(_ text: String, stop: Bool = false) {
        storageFailures.append(text)
        if stop { stopped = true }
        note(text)
    }

    /// A warning for the log (and `-v`) that is not a failure: swept leftovers.
    func note(_ text: String) {
        checkLog(log.warning(text))
        verbose?("apus: warning: \(text)\n")
    }

    /// Writes delivery log entries; a log that cannot be written is said once under `-v`
    /// (the lines went to syslog instead: ``DeliveryLog/record(_:)``).
    func record(_ entries: [DeliveryLog.Entry]) {
        checkLog(log.record(entries))
    }

    private func checkLog(_ error: Errno?) {
        guard let error, !logFailureShown else { return }
        logFailureShown = true
        verbose?("apus: warning: \(log.describe(error))\n")
    }
}
