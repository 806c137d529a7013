import ApusBase
import ApusDelivery
import ApusQueue
import Glibc

/// The `mailq` / `-bp` listing, in Postfix's formats (cli.md "mailq output").
///
/// Text (Postfix `postqueue -p`):
///
///     -Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------
///     4F2A9C01E3B7    1532 Sun Nov 22 14:03:11  cron@host.example.com
///     (connect to smtp.example.com[203.0.113.5]:587: Connection refused; next attempt Sun Nov 22 14:08:11)
///                                              admin@example.com
///
///     -- 2 Kbytes in 1 Request.
///
/// One block per message with a pending recipient, a blank line between
/// blocks. The message line is Postfix's `%-10s%c %8ld %20.20s %s` (id, status
/// blank, size, the 20 first characters of `asctime` in local time, sender;
/// `MAILER-DAEMON` for `<>`). Before each pending recipient comes its delay
/// reason in parentheses, right-aligned to column 78 like Postfix, printed only
/// when it differs from the previous recipient's; the recipient line is indented
/// 41 columns. The first reason line of a message ends with when it is next
/// tried (`; next attempt Sat Dec  5 09:00:00`, or `; due now`; alone in the
/// parentheses before a first attempt). Control characters in envelope text print as `?`. The footer
/// counts the message sizes in Kbytes, rounded up. Only envelope data is shown,
/// never a body.
///
/// JSON (Postfix `postqueue -j`): one object per message and line; nothing at
/// all for an empty queue.
package enum MailqListing {
    /// The header line.
    package static let header = "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------"
    /// What an empty queue prints.
    package static let emptyQueue = "Mail queue is empty"

    /// The messages mailq shows: those with a pending recipient, in the given order.
    package static func listed(_ entries: [QueueEntry]) -> [QueueEntry] {
        entries.filter { !$0.envelope.isFinished }
    }

    /// The line about messages moved to `corrupt/` (for stderr), or nil when there are none.
    package static func corruptLine(_ count: Int, directory: String) -> String? {
        guard count > 0 else { return nil }
        return
            "apus: \(count) corrupt message\(count == 1 ? "" : "s") in \(directory) (see apus(8), QUEUE FILE FORMAT)\n"
    }

    /// The text listing, every line ended by LF.
    /// - Parameters:
    ///   - entries: the queue (``QueueStore/list()`` order: oldest first).
    ///   - now: the current time, to say which messages are due.
    package static func text(_ entries: [QueueEntry], now: Int64 = Int64(time(nil))) -> String {
        let shown = listed(entries)
        guard !shown.isEmpty else { return emptyQueue + "\n" }
        var out = header + "\n"
        var totalBytes: Int64 = 0
        for (index, entry) in shown.enumerated() {
            if index > 0 { out += "\n" }
            let envelope = entry.envelope
            totalBytes += max(0, envelope.size)
            let sender = envelope.sender.isEmpty ? "MAILER-DAEMON" : printable(envelope.sender)
            out +=
                pad(entry.id.rawValue, 10) + "  " + leftPad(String(envelope.size), 8) + " "
                + arrivalText(envelope.arrivalTime) + " " + sender + "\n"
            var previousReason = ""
            let due = nextAttemptText(envelope, now: now)
            for (index, recipient) in envelope.pendingRecipients.enumerated() {
                let reason = recipient.lastReply.isEmpty ? envelope.lastError : recipient.lastReply
                if index == 0 {
                    out += "(" + (reason.isEmpty ? "" : printable(reason) + "; ") + due + ")\n"
                    previousReason = reason
                } else if !reason.isEmpty && reason != previousReason {
                    out += "(" + printable(reason) + ")" + "\n"
                    previousReason = reason
                }
                out += String(repeating: " ", count: 41) + printable(recipient.address) + "\n"
            }
        }
        let kbytes = (totalBytes + 1023) / 1024
        out += "\n-- \(kbytes) Kbytes in \(shown.count) Request\(shown.count == 1 ? "" : "s").\n"
        return out
    }

    /// `next attempt Sat Dec  5 09:00:00`, or `due now` once that time has come.
    static func nextAttemptText(_ envelope: Envelope, now: Int64) -> String {
        envelope.nextAttempt <= now ? "due now" : "next attempt " + DeliveryLog.localTime(envelope.nextAttempt)
    }

    /// The `--json` listing: one object per message with a pending recipient,
    /// one per line (each ended by LF); empty for an empty queue.
    ///
    /// Fields, as Postfix's `postqueue -j`: `queue_name` (`deferred` after an
    /// attempt, else `incoming`), `queue_id`, `arrival_time` (Unix seconds),
    /// `message_size`, `forced_expire` (false), `sender` (empty for `<>`),
    /// `recipients` (pending ones: `address`, and `delay_reason` once there is
    /// one); then apus's `attempts` and `next_attempt` (Unix seconds).
    package static func json(_ entries: [QueueEntry]) -> String {
        var out = ""
        for entry in listed(entries) {
            let envelope = entry.envelope
            out += "{\"queue_name\": \"\(envelope.attempts > 0 ? "deferred" : "incoming")\""
            out += ", \"queue_id\": " + jsonString(entry.id.rawValue)
            out += ", \"arrival_time\": \(envelope.arrivalTime)"
            out += ", \"message_size\": \(envelope.size)"
            out += ", \"forced_expire\": false"
            out += ", \"sender\": " + jsonString(envelope.sender)
            out += ", \"recipients\": ["
            for (index, recipient) in envelope.pendingRecipients.enumerated() {
                if index > 0 { out += ", " }
                out += "{\"address\": " + jsonString(recipient.address)
                let reason = recipient.lastReply.isEmpty ? envelope.lastError : recipient.lastReply
                if !reason.isEmpty { out += ", \"delay_reason\": " + jsonString(reason) }
                out += "}"
            }
            out += "], \"attempts\": \(envelope.attempts), \"next_attempt\": \(envelope.nextAttempt)}\n"
        }
        return out
    }

    /// A JSON string literal for `text` (``JSONText/literal(_:)``).
    package static func jsonString(_ text: String) -> String { JSONText.literal(text) }

    /// `Sun Nov 22 14:03:11` plus one space: the first 20 characters of
    /// `asctime(localtime(t))`, English names whatever the locale. The C function
    /// is `localtime_r` (it honours `TZ`).
    package static func arrivalText(_ seconds: Int64) -> String {
        DeliveryLog.localTime(seconds) + " "
    }

    /// `text` with control characters replaced by `?` (Postfix `printable`).
    static func printable(_ text: String) -> String { DisplayText.oneLine(text) }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    static func leftPad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}
