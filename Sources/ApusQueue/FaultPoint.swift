import ApusPOSIX
import Glibc

/// The named steps of writing, updating and removing queue files where a test
/// can make the process die or a call fail. This list is the one place they
/// are documented.
///
/// | point | where |
/// |---|---|
/// | `queue.data.write` | each write of message bytes to the temporary file (`<id>.tmp`) |
/// | `queue.data.written` | content and first envelope record written, before the fsync |
/// | `queue.message.synced` | temporary file fsync'd, before its rename |
/// | `queue.message.renamed` | renamed to `<id>.msg` (message visible), before the directory fsync |
/// | `queue.update.appended` | an envelope record appended, before the file's fsync |
/// | `queue.update.temp` | a rewritten (compacted; version 1: envelope) temp file fsync'd, before its rename |
/// | `queue.update.renamed` | the rewritten file renamed into place, before the directory fsync |
/// | `queue.remove.message` | `<id>.msg` removed, before the directory fsync |
/// | `queue.remove.envelope` | version 1: envelope removed (message invisible), before the data file is removed |
/// | `queue.remove.data` | version 1: data file removed too, before the directory fsync |
///
/// The binary reads `APUS_FAULT` once (see ``FaultInjection/fromEnvironment``):
/// `APUS_FAULT=queue.message.synced` kills the process with `SIGKILL` at that point;
/// `APUS_FAULT=queue.data.write:ENOSPC` (or `EIO`, `EDQUOT`, `EACCES`, or a number)
/// makes the step fail with that errno instead.
package enum FaultPoint: String, Sendable, CaseIterable {
    /// Each write to the temporary file.
    case dataWrite = "queue.data.write"
    /// Content and first record written, before the fsync.
    case dataWritten = "queue.data.written"
    /// After the temporary file's fsync, before its rename.
    case messageSynced = "queue.message.synced"
    /// After the rename to `<id>.msg`, before the directory fsync.
    case messageRenamed = "queue.message.renamed"
    /// After an envelope record's append, before the fsync.
    case updateAppended = "queue.update.appended"
    /// After a rewritten file's (compaction; version 1: envelope) fsync, before its rename.
    case updateTemp = "queue.update.temp"
    /// After a rewritten file's rename, before the directory fsync.
    case updateRenamed = "queue.update.renamed"
    /// After the `.msg` file's removal, before the directory fsync.
    case removeMessage = "queue.remove.message"
    /// After the envelope's removal, before the data file's.
    case removeEnvelope = "queue.remove.envelope"
    /// After the data file's removal, before the directory fsync.
    case removeData = "queue.remove.data"
}

/// Which fault, if any, to trigger: test-only, off in production.
package struct FaultInjection: Sendable, Equatable {
    /// What happens at the chosen point.
    package enum Action: Sendable, Equatable {
        /// `kill(getpid(), SIGKILL)`: the process dies on the spot.
        case kill
        /// The step throws ``Errno`` with this code (for example `ENOSPC`).
        case fail(Int32)
    }

    /// The point that triggers, or nil for none.
    package var point: FaultPoint?
    /// What it does.
    package var action: Action

    /// No fault anywhere.
    package static let none = FaultInjection(point: nil, action: .kill)

    /// A fault at `point`.
    package init(point: FaultPoint?, action: Action) {
        self.point = point
        self.action = action
    }

    /// Parses `point` or `point:ERRNO` (`ENOSPC`, `EIO`, `EDQUOT`, `EACCES`, `EROFS` or
    /// a decimal number). Unknown text gives ``none``.
    package init(specification: String) {
        let parts = specification.split(separator: ":", maxSplits: 1).map(String.init)
        guard let first = parts.first, let point = FaultPoint(rawValue: first) else {
            self = .none
            return
        }
        guard parts.count == 2 else {
            self.init(point: point, action: .kill)
            return
        }
        let names: [String: Int32] = ["ENOSPC": ENOSPC, "EIO": EIO, "EDQUOT": EDQUOT, "EACCES": EACCES, "EROFS": EROFS]
        if let code = names[parts[1]] ?? Int32(parts[1]) {
            self.init(point: point, action: .fail(code))
        } else {
            self = .none
        }
    }

    /// `APUS_FAULT` from the environment, read once per process; ignored (``none``)
    /// when the process runs set-id (real and effective ids differ), so a user
    /// cannot steer the setgid binary with it.
    package static let fromEnvironment: FaultInjection = {
        guard getuid() == geteuid(), getgid() == getegid(), let text = getenv("APUS_FAULT") else { return .none }
        return FaultInjection(specification: String(cString: text))
    }()

    /// Triggers the fault if `reached` is the chosen point.
    /// - Throws: ``Errno`` for a `.fail` action (operation "fault", object the point name).
    package func check(_ reached: FaultPoint) throws(Errno) {
        guard reached == point else { return }
        switch action {
        case .kill:
            kill(getpid(), SIGKILL)
            while true { pause() }
        case .fail(let code):
            throw Errno(code, operation: reached.rawValue)
        }
    }
}
