/// Where a recipient stands: not yet delivered, accepted by the relay, or refused for good.
package enum RecipientState: String, Sendable, CaseIterable {
    /// Not delivered yet: it is tried at the next due run.
    case pending
    /// The relay accepted the message for it; it is never sent again.
    case sent
    /// Refused for good (5xx or expiry); a failure notice covers it.
    case failed
}

/// One recipient of a queued message, with its state and the relay's last word on it.
package struct QueueRecipient: Equatable, Sendable {
    /// The address as given to RCPT TO, without angle brackets.
    package var address: String
    /// Pending, sent or failed.
    package var state: RecipientState
    /// The last reply or error for this recipient (empty when none yet).
    package var lastReply: String
    /// DSN NOTIFY value (`NEVER` or a comma list), nil when not asked for.
    package var notify: String?
    /// DSN ORCPT value (`rfc822;addr`), nil when not asked for.
    package var originalRecipient: String?
    /// The code of the relay's last reply for this recipient (550), nil when
    /// the last word was not a reply (a lost connection, expiry).
    package var replyCode: Int?
    /// The RFC 3463 status of that reply (`5.1.1`), when it had one.
    package var status: String?

    /// A recipient; by default pending with no reply and no DSN parameters.
    package init(
        address: String, state: RecipientState = .pending, lastReply: String = "",
        notify: String? = nil, originalRecipient: String? = nil, replyCode: Int? = nil, status: String? = nil
    ) {
        self.address = address
        self.state = state
        self.lastReply = lastReply
        self.notify = notify
        self.originalRecipient = originalRecipient
        self.replyCode = replyCode
        self.status = status
    }
}

/// A key and value kept from an envelope line this version does not know, so a
/// file written by a newer apus survives an update by an older one.
package struct EnvelopeExtraField: Equatable, Sendable {
    /// The key: lower-case letters, digits and `-`.
    package var key: String
    /// The value, any text.
    package var value: String

    /// An extra field.
    package init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// Everything apus knows about a queued message except its content: the
/// envelope file's contents (the format is described on ``Envelope/encode()``).
package struct Envelope: Equatable, Sendable {
    /// The newest envelope format this code reads and writes. Version 2 adds
    /// the `config` key; an envelope without it is still written as version 1,
    /// so only a message queued with `-C` needs a reader that knows the key.
    package static let currentVersion = 3
    /// The oldest envelope format this code reads.
    package static let oldestVersion = 1

    /// MAIL FROM address without angle brackets; empty is the null sender `<>`.
    package var sender: String
    /// The recipients, in submission order.
    package var recipients: [QueueRecipient]
    /// The account (apus.conf section) the message goes through; empty for the default.
    package var account: String
    /// When the message was queued, Unix seconds.
    package var arrivalTime: Int64
    /// The message size in bytes (the data file's length; set by ``QueueFileWriter/commit(_:)``).
    package var size: Int64
    /// How many delivery attempts have been made.
    package var attempts: Int
    /// When the next attempt is due, Unix seconds (≤ now means due).
    package var nextAttempt: Int64
    /// The last error for the message as a whole (empty when none yet).
    package var lastError: String
    /// DSN RET (`FULL` or `HDRS`), nil when not asked for.
    package var dsnReturn: String?
    /// DSN ENVID, nil when not asked for.
    package var dsnEnvelopeID: String?
    /// BODY type (`7BIT`, `8BITMIME`), nil when not set.
    package var bodyType: String?
    /// The configuration file the message was queued with (`-C FILE` given by
    /// root), absolute; nil for the system configuration. A run retries the
    /// message with it (delivery.md "Queue").
    package var configurationFile: String?
    /// Fields from a newer format, kept and written back unchanged.
    package var extraFields: [EnvelopeExtraField]

    /// An envelope for a new message: no attempts yet, due at once.
    package init(
        sender: String, recipients: [QueueRecipient], account: String = "", arrivalTime: Int64,
        size: Int64 = 0, attempts: Int = 0, nextAttempt: Int64? = nil, lastError: String = "",
        dsnReturn: String? = nil, dsnEnvelopeID: String? = nil, bodyType: String? = nil,
        configurationFile: String? = nil, extraFields: [EnvelopeExtraField] = []
    ) {
        self.sender = sender
        self.recipients = recipients
        self.account = account
        self.arrivalTime = arrivalTime
        self.size = size
        self.attempts = attempts
        self.nextAttempt = nextAttempt ?? arrivalTime
        self.lastError = lastError
        self.dsnReturn = dsnReturn
        self.dsnEnvelopeID = dsnEnvelopeID
        self.bodyType = bodyType
        self.configurationFile = configurationFile
        self.extraFields = extraFields
    }

    /// The recipients still waiting for delivery.
    package var pendingRecipients: [QueueRecipient] { recipients.filter { $0.state == .pending } }

    /// Each recipient address and its index in ``recipients`` (the first when an
    /// address appears twice): built once, so matching per-recipient replies
    /// back to the envelope is linear, not quadratic, in the recipient count.
    package var recipientIndex: [String: Int] {
        var index: [String: Int] = [:]
        index.reserveCapacity(recipients.count)
        for (i, recipient) in recipients.enumerated() where index[recipient.address] == nil {
            index[recipient.address] = i
        }
        return index
    }

    /// Whether no recipient is pending any more (the message can be removed).
    package var isFinished: Bool { !recipients.contains { $0.state == .pending } }

    /// Records a failed attempt: counts it, keeps `error` as the last error
    /// and schedules the next try with `policy`.
    package mutating func recordDeferral(error: String, now: Int64, policy: RetryPolicy) {
        attempts += 1
        lastError = error
        nextAttempt = policy.nextAttempt(afterAttempts: attempts, now: now)
    }
}
