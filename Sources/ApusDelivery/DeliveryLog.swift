import ApusBase
import ApusPOSIX
import Glibc

/// One line per recipient per delivery attempt, in Postfix's style
/// (delivery.md "Logging"), to syslog facility mail, to a file, or nowhere:
///
///     4F2A9C01E3: from=<a@x>, to=<b@y>, relay=smtp.example.com[203.0.113.5]:587,
///         delay=0.42, tls=TLSv1.3, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as ABC)
///
/// (one line; wrapped here). `relay=none` when no connection was made;
/// reasons in Postfix's words (``PostfixWording``). Lines
/// never hold passwords or tokens: only envelope addresses and server replies.
package struct DeliveryLog: Sendable {
    /// Where lines go.
    package enum Destination: Equatable, Sendable {
        /// syslog(3), facility mail, ident `apus`.
        case syslog
        /// Appended to this file.
        case file(String)
        /// Not logged.
        case off
    }

    /// What became of a recipient in this attempt.
    package enum Status: String, Sendable {
        /// The relay accepted it.
        case sent
        /// Kept for a later attempt.
        case deferred
        /// Failed for good.
        case bounced
    }

    /// One recipient's attempt.
    package struct Entry: Sendable {
        /// The queue id, or a fresh id for a message sent without queueing.
        package var queueID: String
        /// The envelope sender (empty for `<>`).
        package var sender: String
        /// The recipient.
        package var recipient: String
        /// `host[addr]:port`, or nil when no connection was made (`relay=none`).
        package var relay: String?
        /// Seconds since the message arrived.
        package var delay: Double
        /// The TLS version, or nil for plain text.
        package var tls: String?
        /// The outcome.
        package var status: Status
        /// The server's reply or the local reason, one line.
        package var reason: String
        /// The RFC 3463 status (`dsn=` field); nil: taken from the reply in
        /// `reason`, else from the status (2.0.0, 4.0.0, 5.0.0).
        package var dsn: String? = nil

        /// Creates an entry.
        package init(
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
        package var line: String {
            var text = "\(queueID): from=<\(sender)>, to=<\(recipient)>, relay=\(relay ?? "none"), delay="
            text += DeliveryLog.formatDelay(delay)
            if let tls { text += ", tls=\(tls)" }
            text += ", dsn=\(dsn ?? PostfixWording.dsn(reason: reason, status: status))"
            text += ", status=\(status.rawValue) (\(DeliveryLog.oneLine(reason)))"
            return text
        }
    }

    /// The destination.
    package var destination: Destination

    /// A log writing to `destination`.
    package init(destination: Destination) { self.destination = destination }

    /// Why the log cannot be written now, in one line, or nil (for `-bv`).
    /// A missing file is a problem only for a caller other than root, who
    /// never creates it (security.md); syslog needs `/dev/log`.
    package func problem() -> String? {
        switch destination {
        case .off:
            return nil
        case .syslog:
            let present: Bool
            do {
                present = try FileSystem.exists("/dev/log")
            } catch {
                present = false
            }
            return present ? nil : "no /dev/log: the delivery log (syslog) is lost"
        case .file(let path):
            do {
                let fd = try FileDescriptor.open(path, O_WRONLY | O_APPEND | O_NOFOLLOW)
                fd.close()
                return nil
            } catch  where error.code == ENOENT && getuid() == 0 {
                return nil
            } catch {
                return Self.fileProblem(path, error)
            }
        }
    }

    /// What a ``record(_:)`` error means, in one line: "cannot write the log
    /// PATH: …" or "no /dev/log: …".
    package func describe(_ error: Errno) -> String {
        switch destination {
        case .file(let path): return Self.fileProblem(path, error) + "; its lines went to syslog"
        case .syslog, .off: return "no /dev/log: the delivery log (syslog) is lost"
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
        let fd: FileDescriptor
        do throws(Errno) {
            fd = try FileDescriptor.open(path, flags | O_CREAT | O_EXCL, mode: 0o660)
        } catch  where error.code == EEXIST {
            return try FileDescriptor.open(path, flags)
        }
        // The umask (077 when setgid) applied at creation: set the mode the
        // other users' runs need to append.
        do throws(Errno) {
            try fd.changeMode(0o660)
        } catch {
            fd.close()
            throw error
        }
        return fd
    }

    /// Writes the entries. A log that cannot be written never fails a
    /// delivery: when the `log` file cannot be opened or written, the lines go
    /// to syslog instead, after a warning naming the failure, and the error is
    /// returned for the caller to print under `-v`.
    @discardableResult
    package func record(_ entries: [Entry]) -> Errno? {
        // Off: no line is formatted (a queue run records one entry per recipient).
        guard !entries.isEmpty, destination != .off else { return nil }
        return write(entries.map { ($0.line, DeliveryLog.level($0.status)) })
    }

    /// Logs a warning about the queue (a storage failure, a message moved to
    /// `corrupt/`, swept leftovers), as Postfix's `warning:` lines.
    /// - Returns: the log file's error, as ``record(_:)``.
    @discardableResult
    package func warning(_ text: String) -> Errno? {
        write([("warning: " + DeliveryLog.oneLine(text), LOG_WARNING)])
    }

    static func level(_ status: Status) -> Int32 {
        status == .sent ? LOG_INFO : (status == .deferred ? LOG_NOTICE : LOG_WARNING)
    }

    func write(_ lines: [(text: String, level: Int32)]) -> Errno? {
        switch destination {
        case .off:
            return nil
        case .syslog:
            DeliveryLog.syslogLines(lines)
            // syslog(3) reports nothing: without /dev/log the lines are lost.
            do {
                if try FileSystem.exists("/dev/log") { return nil }
                return Errno(ENOENT, operation: "syslog", object: "/dev/log")
            } catch {
                return error
            }
        case .file(let path):
            var text = ""
            for line in lines { text += DeliveryLog.timestamp() + " " + line.text + "\n" }
            do {
                let fd = try Self.openFile(path)
                try fd.closeAfter { () throws(Errno) in try fd.writeAll(Array(text.utf8)) }
                return nil
            } catch {
                // Keep the lines: syslog, with the reason first.
                DeliveryLog.syslogLines([("warning: " + Self.fileProblem(path, error), LOG_WARNING)] + lines)
                return error
            }
        }
    }

    static func syslogLines(_ lines: [(text: String, level: Int32)]) {
        openlog("apus", LOG_PID, LOG_MAIL)
        for line in lines {
            line.text.withCString { text in withVaList([text]) { vsyslog(line.level, "%s", $0) } }
        }
        closelog()
    }

    /// `0.42`, `12`, like Postfix (two decimals under ten seconds).
    static func formatDelay(_ seconds: Double) -> String {
        if seconds >= 10 { return String(Int(seconds.rounded())) }
        let hundredths = Int((max(0, seconds) * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    /// The reason on one line: CR, LF and other controls become spaces.
    static func oneLine(_ text: String) -> String { DisplayText.oneLine(text, controls: .space) }

    /// `Sat Dec  5 09:00:00`: the first 19 characters of `asctime` in local time
    /// (English names whatever the locale), as `mailq` shows times. The C
    /// function is `localtime_r` (it honours `TZ`).
    package static func localTime(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        guard localtime_r(&time, &parts) != nil else { return "??" + String(repeating: " ", count: 17) }
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let day = days[min(max(Int(parts.tm_wday), 0), 6)]
        let month = months[min(max(Int(parts.tm_mon), 0), 11)]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let date = parts.tm_mday < 10 ? " \(parts.tm_mday)" : "\(parts.tm_mday)"
        return "\(day) \(month) \(date) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
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
