#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ApusPOSIX

/// The named steps of writing, updating and removing queue files where a test
/// can make the process die or a call fail. This list is the one place they
/// are documented.
///
/// | point | where |
/// |---|---|
/// | `queue.data.write` | each write of message bytes to the temporary data file |
/// | `queue.data.synced` | data temp file written and fsync'd, before its rename |
/// | `queue.data.renamed` | data file renamed into place, before the envelope is written |
/// | `queue.envelope.temp` | envelope temp file written and fsync'd, before its rename |
/// | `queue.envelope.renamed` | envelope renamed into place (message visible), before the directory fsync |
/// | `queue.update.temp` | updated envelope temp written and fsync'd, before its rename |
/// | `queue.update.renamed` | updated envelope renamed into place, before the directory fsync |
/// | `queue.remove.envelope` | envelope removed (message invisible), before the data file is removed |
/// | `queue.remove.data` | data file removed too, before the directory fsync |
///
/// The binary reads `APUS_FAULT` once (see ``FaultInjection/fromEnvironment``):
/// `APUS_FAULT=queue.data.synced` kills the process with `SIGKILL` at that point;
/// `APUS_FAULT=queue.data.write:ENOSPC` (or `EIO`, `EDQUOT`, `EACCES`, or a number)
/// makes the step fail with that errno instead.
public enum FaultPoint: String, Sendable, CaseIterable {
    /// Each write to the temporary data file.
    case dataWrite = "queue.data.write"
    /// After the data temp file's fsync, before its rename.
    case dataSynced = "queue.data.synced"
    /// After the data rename, before the envelope is written.
    case dataRenamed = "queue.data.renamed"
    /// After the envelope temp file's fsync, before its rename.
    case envelopeTemp = "queue.envelope.temp"
    /// After the envelope rename, before the directory fsync.
    case envelopeRenamed = "queue.envelope.renamed"
    /// After an updated envelope's temp file fsync, before its rename.
    case updateTemp = "queue.update.temp"
    /// After an updated envelope's rename, before the directory fsync.
    case updateRenamed = "queue.update.renamed"
    /// After the envelope's removal, before the data file's.
    case removeEnvelope = "queue.remove.envelope"
    /// After the data file's removal, before the directory fsync.
    case removeData = "queue.remove.data"
}

/// Which fault, if any, to trigger: test-only, off in production.
public struct FaultInjection: Sendable, Equatable {
    /// What happens at the chosen point.
    public enum Action: Sendable, Equatable {
        /// `kill(getpid(), SIGKILL)`: the process dies on the spot.
        case kill
        /// The step throws ``Errno`` with this code (for example `ENOSPC`).
        case fail(Int32)
    }

    /// The point that triggers, or nil for none.
    public var point: FaultPoint?
    /// What it does.
    public var action: Action

    /// No fault anywhere.
    public static let none = FaultInjection(point: nil, action: .kill)

    /// A fault at `point`.
    public init(point: FaultPoint?, action: Action) {
        self.point = point
        self.action = action
    }

    /// Parses `point` or `point:ERRNO` (`ENOSPC`, `EIO`, `EDQUOT`, `EACCES`, `EROFS` or
    /// a decimal number). Unknown text gives ``none``.
    public init(specification: String) {
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
    public static let fromEnvironment: FaultInjection = {
        guard getuid() == geteuid(), getgid() == getegid(), let text = getenv("APUS_FAULT") else { return .none }
        return FaultInjection(specification: String(cString: text))
    }()

    /// Triggers the fault if `reached` is the chosen point.
    /// - Throws: ``Errno`` for a `.fail` action (operation "fault", object the point name).
    public func check(_ reached: FaultPoint) throws(Errno) {
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
