import ApusPOSIX
import Glibc

/// One line per recipient per delivery attempt, in Postfix's style
/// (delivery.md "Logging"), to syslog facility mail, to a file, or nowhere:
///
///     4F2A9C01E3: from=<a@x>, to=<b@y>, relay=smtp.example.com[203.0.113.5]:587,
///         delay=0.42, tls=TLSv1.3, status=sent (250 2.0.0 Ok: queued as ABC)
///
/// (one line; wrapped here). `relay=none` when no connection was made. Lines
/// never hold passwords or tokens: only envelope addresses and server replies.
public struct DeliveryLog: Sendable {
    /// Where lines go.
    public enum Destination: Equatable, Sendable {
        /// syslog(3), facility mail, ident `apus`.
        case syslog
        /// Appended to this file.
        case file(String)
        /// Not logged.
        case off
    }

    /// What became of a recipient in this attempt.
    public enum Status: String, Sendable {
        /// The relay accepted it.
        case sent
        /// Kept for a later attempt.
        case deferred
        /// Failed for good.
        case bounced
    }

    /// One recipient's attempt.
    public struct Entry: Sendable {
        /// The queue id, or a fresh id for a message sent without queueing.
        public var queueID: String
        /// The envelope sender (empty for `<>`).
        public var sender: String
        /// The recipient.
        public var recipient: String
        /// `host[addr]:port`, or nil when no connection was made (`relay=none`).
        public var relay: String?
        /// Seconds since the message arrived.
        public var delay: Double
        /// The TLS version, or nil for plain text.
        public var tls: String?
        /// The outcome.
        public var status: Status
        /// The server's reply or the local reason, one line.
        public var reason: String

        /// Creates an entry.
        public init(
            queueID: String, sender: String, recipient: String, relay: String?, delay: Double, tls: String?,
            status: Status, reason: String
        ) {
            self.queueID = queueID
            self.sender = sender
            self.recipient = recipient
            self.relay = relay
            self.delay = delay
            self.tls = tls
            self.status = status
            self.reason = reason
        }

        /// The log line, without a trailing newline.
        public var line: String {
            var text = "\(queueID): from=<\(sender)>, to=<\(recipient)>, relay=\(relay ?? "none"), delay="
            text += DeliveryLog.formatDelay(delay)
            if let tls { text += ", tls=\(tls)" }
            text += ", status=\(status.rawValue) (\(DeliveryLog.oneLine(reason)))"
            return text
        }
    }

    /// The destination.
    public var destination: Destination

    /// Whether a log that cannot be written is mentioned on stderr, one line
    /// per failed write (`-v`); otherwise the failure is silent (config.md `log`).
    public var reportsProblems = false

    /// A log writing to `destination`.
    public init(destination: Destination) { self.destination = destination }

    /// Why the log cannot be written now, in one line, or nil (for `-bv`).
    /// A missing file is a problem only for a caller other than root, who
    /// never creates it (security.md); syslog needs `/dev/log`.
    public func problem() -> String? {
        switch destination {
        case .off:
            return nil
        case .syslog:
            return (try? FileSystem.exists("/dev/log")) == true ? nil : "no /dev/log: the delivery log (syslog) is lost"
        case .file(let path):
            do {
                let fd = try FileDescriptor.open(path, O_WRONLY | O_APPEND | O_NOFOLLOW)
                fd.close()
                return nil
            } catch where error.code == ENOENT && getuid() == 0 {
                return nil
            } catch {
                return Self.fileProblem(path, error)
            }
        }
    }

    static func fileProblem(_ path: String, _ error: Errno) -> String {
        let hint = error.code == ENOENT ? " (only root creates it, root:apus 0660)" : ""
        return "cannot write the log \(path): \(error.reason)\(hint)"
    }

    /// Opens the log file for appending. Only root creates a missing one,
    /// mode 0660 (its group is the effective one: apus when setgid); any
    /// other caller opens an existing file or fails, so no user ever owns the
    /// file other users' lines go to.
    static func openFile(_ path: String) throws(Errno) -> FileDescriptor {
        let flags = O_WRONLY | O_APPEND | O_NOFOLLOW
        guard getuid() == 0 else { return try FileDescriptor.open(path, flags) }
        do {
            let fd = try FileDescriptor.open(path, flags | O_CREAT | O_EXCL, mode: 0o660)
            try? fd.changeMode(0o660)  // the umask (077 when setgid) applied at creation
            return fd
        } catch where error.code == EEXIST {
            return try FileDescriptor.open(path, flags)
        }
    }

    /// Writes the entries. A log that cannot be written never fails a
    /// delivery: the error is returned for the caller to mention under `-v`.
    @discardableResult
    public func record(_ entries: [Entry]) -> Errno? {
        guard !entries.isEmpty else { return nil }
        switch destination {
        case .off:
            return nil
        case .syslog:
            openlog("apus", LOG_PID, LOG_MAIL)
            for entry in entries {
                let level = entry.status == .sent ? LOG_INFO : (entry.status == .deferred ? LOG_NOTICE : LOG_WARNING)
                entry.line.withCString { text in withVaList([text]) { vsyslog(level, "%s", $0) } }
            }
            closelog()
            if reportsProblems, let problem = problem() { Self.warn(problem) }
            return nil
        case .file(let path):
            var text = ""
            for entry in entries { text += DeliveryLog.timestamp() + " " + entry.line + "\n" }
            do {
                let fd = try Self.openFile(path)
                return try fd.closeAfter { () throws(Errno) -> Errno? in
                    try fd.writeAll(Array(text.utf8))
                    return nil
                }
            } catch {
                if reportsProblems { Self.warn(Self.fileProblem(path, error)) }
                return error
            }
        }
    }

    /// `0.42`, `12`, like Postfix (two decimals under ten seconds).
    /// `apus: warning: TEXT (delivery goes on)` on stderr.
    static func warn(_ text: String) {
        try? FileDescriptor.standardError.writeAll(Array("apus: warning: \(text) (delivery goes on)\n".utf8))
    }

    static func formatDelay(_ seconds: Double) -> String {
        if seconds >= 10 { return String(Int(seconds.rounded())) }
        let hundredths = Int((max(0, seconds) * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// The reason on one line: CR, LF and other controls become spaces.
    static func oneLine(_ text: String) -> String {
        String(decoding: text.utf8.map { $0 < 0x20 || $0 == 0x7F ? 0x20 : $0 }, as: UTF8.self)
    }

    /// `Nov 23 14:03:11`, syslog's time stamp in local time, for log files.
    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let n = strftime(&buffer, buffer.count, "%b %e %H:%M:%S", &parts)
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
