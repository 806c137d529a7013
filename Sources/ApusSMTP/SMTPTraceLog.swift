import Synchronization

/// A trace sink that keeps every line in memory, for tests and for showing a
/// dialogue after the fact. Credentials are redacted before they get here.
///
/// ```
/// let log = SMTPTraceLog()
/// let session = try SMTPSession.open(server: "smtp.example.org", trace: log.trace)
/// …
/// for line in log.lines { print(line) }   // "C: EHLO …", "S: 250 …"
/// ```
public final class SMTPTraceLog: Sendable {
    /// One traced line.
    public struct Entry: Sendable, Hashable, CustomStringConvertible {
        /// Which way it went.
        public var direction: SMTPTrace.Direction
        /// The line, without CRLF.
        public var text: String

        /// `C: ` before sent lines, `S: ` before received ones, `*: ` before notes.
        public var description: String {
            switch direction {
            case .sent: return "C: " + text
            case .received: return "S: " + text
            case .note: return "*: " + text
            }
        }
    }

    private let storage = Mutex<[Entry]>([])

    /// An empty log.
    public init() {}

    /// The sink to give a session or a one-call send.
    public var trace: SMTPTrace {
        SMTPTrace { [self] direction, line in
            storage.withLock { $0.append(Entry(direction: direction, text: line)) }
        }
    }

    /// Every line so far, in order.
    public var entries: [Entry] { storage.withLock { $0 } }

    /// Every line so far, tagged as ``SMTPTrace/fileDescriptor(_:prefix:)`` writes them.
    public var lines: [String] { entries.map(\.description) }

    /// Forgets every line.
    public func removeAll() { storage.withLock { $0.removeAll() } }
}
