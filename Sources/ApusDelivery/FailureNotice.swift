/// A failure notice (RFC 3464 delivery status notification) for a queued
/// message that failed for good: a `multipart/report` with a human part, the
/// machine-readable `message/delivery-status` part and the original headers
/// (`text/rfc822-headers`; never the body). It is sent from `<>` to the
/// envelope sender, so it can never cause another notice.
package struct FailureNotice: Sendable {
    /// One recipient that failed.
    package struct FailedRecipient: Sendable {
        /// The recipient address.
        package var address: String
        /// The DSN ORCPT, if the submitter gave one.
        package var originalRecipient: String?
        /// The status code, `5.1.1`, `4.4.7` for an expired message.
        package var status: String
        /// The reply or reason, one line (`550 5.1.1 <x@y>: user unknown`).
        package var diagnostic: String
        /// Whether `diagnostic` is a server reply (`smtp;`) or a local reason (`x-apus;`).
        package var fromServer: Bool

        /// Creates a failed recipient.
        package init(
            address: String, originalRecipient: String?, status: String, diagnostic: String, fromServer: Bool
        ) {
            self.address = address
            self.originalRecipient = originalRecipient
            self.status = status
            self.diagnostic = diagnostic
            self.fromServer = fromServer
        }
    }

    /// The envelope sender the notice goes to.
    package var recipient: String
    /// The host name apus reports as (`domain`).
    package var reportingHost: String
    /// The queue id of the failed message.
    package var queueID: String
    /// The failed message's arrival, RFC 5322 date text.
    package var arrivalDate: String
    /// The date of the notice, RFC 5322 date text.
    package var date: String
    /// The notice's own Message-ID, with angle brackets.
    package var messageID: String
    /// The relay that refused, `host[addr]:port`, when there was one.
    package var remoteMTA: String?
    /// DSN ENVID of the original, if given.
    package var envelopeID: String?
    /// Why: "the relay refused it" or "it stayed in the queue for 5 days".
    package var summary: String
    /// The recipients that failed.
    package var failed: [FailedRecipient]
    /// The header block of the original message, as stored (CRLF or LF line ends).
    package var originalHeaders: [UInt8]
    /// A boundary string not found in the original headers (the caller makes it random).
    package var boundary: String

    /// Creates a notice.
    package init(
        recipient: String, reportingHost: String, queueID: String, arrivalDate: String, date: String,
        messageID: String, remoteMTA: String?, envelopeID: String?, summary: String, failed: [FailedRecipient],
        originalHeaders: [UInt8], boundary: String
    ) {
        self.recipient = recipient
        self.reportingHost = reportingHost
        self.queueID = queueID
        self.arrivalDate = arrivalDate
        self.date = date
        self.messageID = messageID
        self.remoteMTA = remoteMTA
        self.envelopeID = envelopeID
        self.summary = summary
        self.failed = failed
        self.originalHeaders = originalHeaders
        self.boundary = boundary
    }

    /// The complete notice, CRLF line ends, ready to send.
    package var message: [UInt8] {
        var out: [String] = [
            "From: Mail Delivery System <MAILER-DAEMON@\(reportingHost)>",
            "To: <\(recipient)>",
            "Subject: Undelivered Mail Returned to Sender",
            "Date: \(date)",
            "Message-ID: \(messageID)",
            "Auto-Submitted: auto-replied",
            "MIME-Version: 1.0",
            "Content-Type: multipart/report; report-type=delivery-status;",
            "\tboundary=\"\(boundary)\"",
            "",
            "This is a MIME-encapsulated message.",
            "",
            "--\(boundary)",
            "Content-Description: Notification",
            "Content-Type: text/plain; charset=us-ascii",
            "",
            "This is the mail system at host \(reportingHost).",
            "",
            "Your message could not be delivered to one or more recipients:",
            "\(summary).",
            "",
        ]
        for failure in failed {
            out.append("<\(failure.address)>: \(failure.diagnostic)")
        }
        out += [
            "",
            "--\(boundary)",
            "Content-Description: Delivery report",
            "Content-Type: message/delivery-status",
            "",
            "Reporting-MTA: dns; \(reportingHost)",
            "X-Apus-Queue-ID: \(queueID)",
        ]
        if let envelopeID { out.append("Original-Envelope-Id: \(envelopeID)") }
        out.append("Arrival-Date: \(arrivalDate)")
        for failure in failed {
            out.append("")
            out.append("Final-Recipient: rfc822; \(failure.address)")
            if let original = failure.originalRecipient { out.append("Original-Recipient: \(original)") }
            out.append("Action: failed")
            out.append("Status: \(failure.status)")
            if let remoteMTA, failure.fromServer { out.append("Remote-MTA: dns; \(remoteMTA)") }
            out.append("Diagnostic-Code: \(failure.fromServer ? "smtp" : "x-apus"); \(failure.diagnostic)")
        }
        out += [
            "",
            "--\(boundary)",
            "Content-Description: Undelivered Message Headers",
            "Content-Type: text/rfc822-headers",
            "",
        ]
        var bytes = Array(out.joined(separator: "\r\n").utf8) + [13, 10]
        bytes += FailureNotice.crlf(originalHeaders)
        if bytes.suffix(2) != [13, 10] { bytes += [13, 10] }
        bytes += Array("\r\n--\(boundary)--\r\n".utf8)
        return bytes
    }

    /// The DSN status for a reply: its enhanced code when it has one of the
    /// right class, else `5.0.0` (or `4.0.0` for a 4xx).
    package static func status(code: Int, enhancedCode: String?) -> String {
        let cls = code / 100
        if let enhanced = enhancedCode, enhanced.hasPrefix("\(cls).") { return enhanced }
        return cls == 4 ? "4.0.0" : "5.0.0"
    }

    /// Converts LF line ends to CRLF, keeping existing CRLF.
    static func crlf(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 40)
        var previous: UInt8 = 0
        for byte in bytes {
            if byte == 10 && previous != 13 { out.append(13) }
            out.append(byte)
            previous = byte
        }
        return out
    }
}
