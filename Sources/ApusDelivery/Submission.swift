import ApusBase
import ApusConfig
import ApusMessage
import ApusPOSIX
import ApusQueue
import ApusSMTP
import Glibc
import Synchronization

/// What the submitter asked for (the `-bm` options of cli.md).
package struct SubmissionRequest: Sendable {
    /// `-f`/`-r` as given.
    package var sender: String?
    /// Command-line recipients (comma lists already split).
    package var recipients: [String] = []
    /// `-t`.
    package var extractRecipients = false
    /// `-i`: a lone dot is data.
    package var ignoreDots = false
    /// `-F`.
    package var fullName: String?
    /// `-N` (`never` or a comma list).
    package var dsnNotify: String?
    /// `-R` (`full` or `hdrs`).
    package var dsnReturn: String?
    /// `-V`.
    package var envelopeID: String?
    /// `-B` (`7BIT` or `8BITMIME`).
    package var bodyType: String?

    /// An empty request.
    package init() {}
}

/// Who submits: the caller's login and full name (from the real uid).
///
/// Made with ``init(lookingUp:)``, the names are looked up when first asked
/// for, once: the login only when no `from` (and no allowed `-f`) gives the
/// sender, the full name only when apus adds or overrides From. A message
/// with a From header sent through an account with `from` never asks the
/// user database (NSS: nsswitch.conf, /etc/passwd, possibly a directory
/// service) at all.
package struct Submitter: Sendable {
    /// The names, or how to get them.
    private let names: Names

    /// Login name, for the default sender `login@domain`.
    package var login: String { names.value.login }
    /// GECOS full name, for an added From:.
    package var fullName: String { names.value.fullName }

    /// A submitter whose names are known.
    package init(login: String, fullName: String) {
        names = Names { (login, fullName) }
    }

    /// A submitter whose names `lookUp` gives, called on first use only.
    package init(lookingUp lookUp: @escaping @Sendable () -> (login: String, fullName: String)) {
        names = Names(lookUp)
    }

    /// The names, computed once.
    private final class Names: Sendable {
        let lookUp: @Sendable () -> (login: String, fullName: String)
        let cache = Mutex<(login: String, fullName: String)?>(nil)

        init(_ lookUp: @escaping @Sendable () -> (login: String, fullName: String)) { self.lookUp = lookUp }

        var value: (login: String, fullName: String) {
            cache.withLock { cached in
                if let cached { return cached }
                let names = lookUp()
                cached = names
                return names
            }
        }
    }
}

/// The end of a submission that exits 0: what to tell the caller on stderr
/// (nothing when everything was sent).
package struct SubmissionReport: Sendable {
    /// What became of the message when the submission succeeded.
    package enum Outcome: Hashable, Sendable {
        /// The relay accepted it for every recipient.
        case sent
        /// It is durably in the queue (for all or some recipients), for this reason.
        case queued(reason: String)
    }

    /// The queue id (or the id used in log lines).
    package var id: String
    /// `apus: queued ID: reason` lines, printed on stderr; empty when all went.
    package var notices: [String]
    /// Sent, or queued.
    package var outcome: Outcome

    /// A report.
    package init(id: String, notices: [String], outcome: Outcome) {
        self.id = id
        self.notices = notices
        self.outcome = outcome
    }
}

/// `-bm`: read one message, build its envelope, fix its headers, hand it to
/// the relay, and turn the outcome into a report or a ``CommandFailure`` that
/// says what happened (ApusCommand maps it to cli.md's exit status) — queueing
/// it durably when the relay cannot take it now (delivery.md "Outcomes").
package struct Submission {
    /// The loaded configuration.
    package var configuration: Configuration
    /// Who submits.
    package var submitter: Submitter
    /// The SMTP dialogue sink (`-v`, `-X`), or nil.
    package var trace: SMTPTrace?
    /// The group queue files get (the apus group when setgid), or nil.
    package var queueGroup: gid_t?
    /// The `-C FILE` of a root caller, recorded in the envelope of a queued
    /// message so that runs retry it with that file; nil otherwise.
    package var recordedConfigurationFile: String?
    /// `-v`: where warnings go (stderr), or nil.
    package var verbose: ((String) -> Void)?

    /// Creates a submission context.
    package init(
        configuration: Configuration, submitter: Submitter, trace: SMTPTrace?, queueGroup: gid_t?,
        recordedConfigurationFile: String? = nil, verbose: ((String) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.submitter = submitter
        self.trace = trace
        self.queueGroup = queueGroup
        self.recordedConfigurationFile = recordedConfigurationFile
        self.verbose = verbose
    }

    /// Writes delivery log lines; a log file that cannot be written sent them
    /// to syslog instead (``DeliveryLog/record(_:)``), which `-v` mentions.
    func record(_ log: DeliveryLog, _ entries: [DeliveryLog.Entry]) {
        if let error = log.record(entries) {
            verbose?("apus: warning: \(log.describe(error))\n")
        }
    }

    /// Reads the message from `input` and submits it.
    package func run(_ request: SubmissionRequest, input: FileDescriptor) throws(CommandFailure) -> SubmissionReport {
        let given = Self.parseGivenSender(request)
        let account = chooseAccount(given)
        let message: ReceivedMessage
        do {
            message = try Self.receive {
                try MessageIntake.read(
                    from: input, dotTerminates: !request.ignoreDots, spoolDirectory: spoolDirectory,
                    sizeLimit: account.messageSizeLimit)
            }
        } catch {
            if error.kind == .messageRefusedLocally { logRefusal(error.summary, request: request, account: account) }
            throw error
        }
        return try submit(message, request: request, account: account, givenSender: given)
    }

    /// Submits a message already received (`-bs`): read as it arrived, so
    /// it is not copied from one spool into another.
    package func run(_ request: SubmissionRequest, received: MessageIntake.Builder) throws(CommandFailure)
        -> SubmissionReport
    {
        let given = Self.parseGivenSender(request)
        let account = chooseAccount(given)
        let message = try Self.receive {
            if account.messageSizeLimit > 0 && received.count > account.messageSizeLimit {
                throw MessageIntake.Failure.data(.tooLarge(limit: account.messageSizeLimit))
            }
            return try received.finish()
        }
        return try submit(message, request: request, account: account, givenSender: given)
    }

    /// Where a message being received is spooled (past 1 MiB; an unnamed
    /// file, freed if apus dies): the queue directory when apus may write it
    /// with its effective ids (`faccessat` with `AT_EACCESS`: a setgid run
    /// writes there through the apus group, which `access(2)` with the real
    /// ids would deny). Only a caller whose apus cannot write the queue at all
    /// (a `-C` file, read after the group was dropped, naming a queue
    /// directory that is not the caller's) spools in /tmp, as their own
    /// unnamed 0600 file.
    package var spoolDirectory: String {
        let directory = configuration.host.queueDirectory
        return faccessat(AT_FDCWD, directory, W_OK | X_OK, AT_EACCESS) == 0 ? directory : "/tmp"
    }

    /// The `-f` address parsed (once per submission), or nil when none was
    /// given or it does not parse (``sender(_:account:given:)`` then says why).
    static func parseGivenSender(_ request: SubmissionRequest) -> EnvelopeAddress? {
        guard let text = request.sender else { return nil }
        return try? EnvelopeAddress.parse(text.isEmpty ? "<>" : text)
    }

    func chooseAccount(_ given: EnvelopeAddress?) -> Account {
        configuration.account(forSender: given?.mailbox.map { String(decoding: $0.addrSpec, as: UTF8.self) })
    }

    func chooseAccount(_ request: SubmissionRequest) -> Account {
        chooseAccount(Self.parseGivenSender(request))
    }

    static func receive(_ body: () throws -> ReceivedMessage) throws(CommandFailure) -> ReceivedMessage {
        do {
            return try body()
        } catch {
            guard let error = error as? MessageIntake.Failure else {
                throw CommandFailure(.internal, "cannot read the message: \(error)")
            }
            switch error {
            case .read(let errno): throw CommandFailure(.inputUnreadable, "cannot read the message: \(errno.reason)")
            case .spool(let error): throw CommandFailure(.spoolFailed, "cannot spool the message: \(error)")
            case .data(let error): throw CommandFailure(.messageRefusedLocally, "cannot send the message: \(error)")
            }
        }
    }

    // MARK: - Envelope

    /// The envelope sender per delivery.md: `-f` (when the account allows it),
    /// else the account's `from`, else `login@domain`. Unqualified → `@domain`.
    func sender(
        _ request: SubmissionRequest, account: Account, given parsed: EnvelopeAddress? = nil
    ) throws(CommandFailure) -> EnvelopeAddress {
        var text: String
        var address: EnvelopeAddress? = nil
        if let given = request.sender, account.allowFromOverride {
            text = given
            address = parsed
        } else if let from = account.senderAddress {
            text = from
        } else {
            text = "\(submitter.login)@\(account.domain)"
        }
        if text.isEmpty { text = "<>" }
        do {
            var address = try address ?? EnvelopeAddress.parse(text)
            if case .mailbox(let mailbox) = address {
                let qualified = mailbox.isQualified ? mailbox : try mailbox.qualified(with: Array(account.domain.utf8))
                try qualified.checkSMTPSyntax()
                address = .mailbox(qualified)
            }
            return address
        } catch {
            throw CommandFailure(.badAddress, "bad sender address '\(Self.printable(text))': \(error)")
        }
    }

    /// The recipients: command line plus (with `-t`) the headers, aliases
    /// expanded for unqualified names, `default_domain` appended, duplicates removed.
    func recipients(_ request: SubmissionRequest, headers: Headers, account: Account) throws(CommandFailure)
        -> [Mailbox]
    {
        var given: [Mailbox] = []
        for argument in request.recipients {
            do {
                given += try AddressList.parse(argument).mailboxes
            } catch {
                throw CommandFailure(
                    .badAddress, "bad recipient address '\(Self.printable(argument))': \(error)")
            }
        }
        if request.extractRecipients {
            do {
                given += try Recipients.extract(from: headers)
            } catch {
                throw CommandFailure(.badAddress, "bad recipient header: \(error)")
            }
        }
        let aliases: Aliases?
        do {
            aliases = try account.aliasesFile.flatMap { $0.isEmpty ? nil : try Aliases.load(path: $0) }
        } catch {
            throw CommandFailure(.configuration, "\(error)")
        }
        // Qualify the parsed mailbox itself (its local part stays quoted as
        // written); only alias targets, which are text, are parsed here.
        var result: [Mailbox] = []
        let defaultDomain = Array(account.defaultDomain.utf8)
        for mailbox in given {
            if mailbox.isQualified {
                result.append(mailbox)
                continue
            }
            let local = String(decoding: mailbox.localPart, as: UTF8.self)
            let expanded = aliases?.expand([local]) ?? [local]
            for text in expanded {
                do {
                    if text == local {
                        result.append(try mailbox.qualified(with: defaultDomain))
                        continue
                    }
                    guard var target = try EnvelopeAddress.parse(text).mailbox else { continue }
                    if !target.isQualified { target = try target.qualified(with: defaultDomain) }
                    result.append(target)
                } catch {
                    throw CommandFailure(
                        .badAddress, "bad recipient address '\(Self.printable(text))' (from aliases): \(error)")
                }
            }
        }
        for mailbox in result {
            do {
                try mailbox.checkSMTPSyntax()
            } catch {
                throw CommandFailure(
                    .badAddress, "bad recipient address '\(Self.printable(mailbox.description))': \(error)")
            }
        }
        return Recipients.removingDuplicates(result)
    }

    // MARK: - Submitting

    func submit(
        _ received: ReceivedMessage, request: SubmissionRequest, account: Account, givenSender: EnvelopeAddress?
    ) throws(CommandFailure) -> SubmissionReport {
        let arrival = Int64(time(nil))
        let senderAddress = try sender(request, account: account, given: givenSender)
        let mailboxes = try recipients(request, headers: received.headers, account: account)
        guard !mailboxes.isEmpty else { throw CommandFailure(.noRecipients, "no recipients") }
        if account.recipientLimit > 0 && mailboxes.count > account.recipientLimit {
            let failure = CommandFailure(
                .tooManyRecipients,
                "too many recipients: \(mailboxes.count) (recipient_limit is \(account.recipientLimit))")
            logRefusal(failure.summary, request: request, account: account, recipients: mailboxes)
            throw failure
        }
        if received.stats.headersHaveLongLines {
            throw CommandFailure(
                .messageRefusedLocally, "cannot send the message: a header line is longer than 998 octets")
        }
        var headers = received.headers
        do {
            // The full name is looked up only for a From that apus writes.
            let fromMode = Self.fromMode(account.fromHeader)
            let writesFrom = fromMode == .override || (fromMode == .add && !headers.contains(named: "From"))
            let fullName =
                request.fullName ?? (!writesFrom || submitter.fullName.isEmpty ? nil : submitter.fullName)
            // A Date or Message-ID is made only for a message that lacks it
            // (HeaderChanges uses neither otherwise): the time zone file and
            // the random bytes are not read for nothing.
            let date = headers.contains(named: "Date") ? "" : MessageDate.now()
            let messageID = headers.contains(named: "Message-ID") ? "" : try MessageID.generate(domain: account.domain)
            var changes = HeaderChanges(
                fromMode: fromMode, sender: senderAddress, fullName: fullName, date: date, messageID: messageID)
            changes.senderDomain = Array(account.domain.utf8)
            changes.recipientDomain = Array(account.defaultDomain.utf8)
            try changes.apply(to: &headers)
        } catch {
            throw CommandFailure(.messageRefusedLocally, "cannot fix the headers: \(error)")
        }
        let message = OutgoingMessage(headers: headers, body: received.body, stats: received.stats)
        if let error = BodyTransfer.refusal(headers: headers, stats: received.stats) {
            throw CommandFailure(.messageRefusedLocally, "cannot send the message: \(error)")
        }

        let sender = String(decoding: senderAddress.mailbox?.addrSpec ?? [], as: UTF8.self)
        let notify = Self.notify(request.dsnNotify, account: account)
        // A user who asked for DSN (NOTIFY, RET or ENVID) gets ORCPT on every
        // RCPT too (sent only when the server offers DSN).
        let askedForDSN =
            notify.text != nil || request.dsnReturn != nil || account.dsnReturn != nil || request.envelopeID != nil
        let recipients = mailboxes.map { mailbox in
            let address = String(decoding: mailbox.addrSpec, as: UTF8.self)
            return SMTPRecipient(address, notify: notify.smtp, originalRecipient: askedForDSN ? address : nil)
        }
        var envelope = Envelope(
            sender: sender,
            recipients: recipients.map {
                QueueRecipient(
                    address: $0.address, notify: notify.text,
                    originalRecipient: $0.originalRecipient.map { "rfc822;" + $0 })
            },
            account: account.name, arrivalTime: arrival,
            dsnReturn: request.dsnReturn ?? account.dsnReturn?.rawValue, dsnEnvelopeID: request.envelopeID,
            bodyType: request.bodyType, configurationFile: recordedConfigurationFile)
        guard envelope.fitsInFile else {
            let failure = CommandFailure(
                .tooManyRecipients,
                "too many recipients: \(mailboxes.count) would not fit in one queue file of \(Envelope.maximumFileSize >> 20) MiB"
            )
            logRefusal(failure.summary, request: request, account: account, recipients: mailboxes)
            throw failure
        }
        let log = DeliveryLog(destination: Self.logDestination(configuration.host.log))
        let localID = (try? QueueID.random().rawValue) ?? "NOQUEUE"

        // Deliver now: the relay, then each fallback while the attempt fails
        // temporarily (connection, greeting, TLS, AUTH, and also a 4xx to
        // MAIL, to every RCPT or after the data).
        let connector = RelayConnector(
            account: account, trace: trace, tokenCacheDirectory: configuration.host.queueDirectory,
            tokenCacheGroup: queueGroup)
        let relays = [account.relay] + account.fallbacks
        var lastFailure = RelayFailure(.noRelay, message: "no relay configured", relay: nil)
        var lastRefusal: (error: SMTPError, relay: RelaySession)? = nil
        var delivered: (relay: RelaySession, result: SMTPSendResult)? = nil
        for (index, configured) in relays.enumerated() {
            let isLast = index == relays.count - 1
            let relay: RelaySession
            do {
                relay = try connector.open(configured)
            } catch {
                if error.isLocal { throw CommandFailure(.systemFailure, error.message) }
                lastFailure = error
                lastRefusal = nil
                continue
            }
            do {
                let result = try Transmission.send(
                    message, sender: sender, recipients: recipients,
                    dsnReturn: Self.dsnReturn(envelope.dsnReturn), envelopeID: request.envelopeID,
                    bodyType: request.bodyType, eightBit: account.eightBit, over: relay,
                    policy: .abortIfAnyPermanent, quitAfter: true)
                relay.session.close()
                delivered = (relay, result)
                break
            } catch let error as Transmission.Unsendable {
                // A local refusal: nothing was sent; end the session politely and log it.
                relay.session.quitWithoutWaiting()
                logRefusal(error.message, dsn: error.dsn, envelope: envelope, relay: relay, log: log, localID: localID)
                throw CommandFailure(.messageRefusedLocally, "cannot send the message: \(error.message)")
            } catch let error as SMTPError {
                if error.kind == .messageTooLarge { relay.session.quitWithoutWaiting() } else { relay.session.close() }
                if error.isTransient && !isLast {
                    lastRefusal = (error, relay)
                    continue
                }
                return try handle(error, message: message, envelope: envelope, relay: relay, log: log, localID: localID)
            } catch {
                relay.session.close()
                lastFailure = RelayFailure(.other, message: "\(relay.relay): \(error)", relay: relay.relay)
                lastRefusal = nil
            }
        }
        guard let (relay, result) = delivered else {
            if let (error, relay) = lastRefusal {
                return try handle(error, message: message, envelope: envelope, relay: relay, log: log, localID: localID)
            }
            return try queue(
                message, envelope: envelope, reason: lastFailure.message, relay: lastFailure.relay, log: log,
                protocolError: lastFailure.underlying?.kind == .protocolViolation)
        }

        // Sent to some or all.
        let delay = Double(Int64(time(nil)) - arrival)
        var entries: [DeliveryLog.Entry] = []
        let indexOf = envelope.recipientIndex
        for outcome in result.recipients {
            let address = outcome.recipient
            guard let index = indexOf[address] else { continue }
            envelope.recipients[index].record(
                outcome.finalReply,
                text: outcome.isAccepted
                    ? outcome.finalReply.description
                    : PostfixWording.said(outcome.finalReply, relay: relay.relay, stage: .rcpt))
            if outcome.isAccepted {
                envelope.recipients[index].state = .sent
                entries.append(
                    entry(localID, sender, outcome.finalAddress, relay, delay, .sent, result.dataReply.description))
            }
        }
        if envelope.pendingRecipients.isEmpty {
            record(log, entries)
            return SubmissionReport(id: localID, notices: [], outcome: .sent)
        }
        let deferred = envelope.pendingRecipients.map { "<\($0.address)>: \($0.lastReply)" }.joined(separator: ", ")
        // The sent lines are logged with the queue id of the rest, so every
        // line of this submission carries the same id.
        return try queue(
            message, envelope: envelope, reason: deferred, relay: relay.relay, tls: relay.tlsVersion, log: log,
            alsoLogging: entries)
    }

    /// Logs a local refusal (size or recipient limit, a NUL): one line naming
    /// the first recipient and the reason, with `NOQUEUE` for the id, since
    /// nothing was queued or sent (delivery.md "Logging").
    func logRefusal(_ reason: String, request: SubmissionRequest, account: Account, recipients: [Mailbox] = []) {
        let log = DeliveryLog(destination: Self.logDestination(configuration.host.log))
        let sender = (try? sender(request, account: account))?.mailbox.map {
            String(decoding: $0.addrSpec, as: UTF8.self)
        }
        let first = recipients.first.map { String(decoding: $0.addrSpec, as: UTF8.self) } ?? request.recipients.first
        log.record([
            DeliveryLog.Entry(
                queueID: "NOQUEUE", sender: sender ?? "", recipient: first ?? "", relay: nil, delay: 0, tls: nil,
                status: .bounced, reason: reason)
        ])
    }

    /// Maps an engine error to the outcome table of delivery.md.
    func handle(
        _ error: SMTPError, message: OutgoingMessage, envelope: Envelope, relay: RelaySession, log: DeliveryLog,
        localID: String
    ) throws(CommandFailure) -> SubmissionReport {
        let delay = Double(Int64(time(nil)) - envelope.arrivalTime)
        if error.kind == .messageTooLarge {
            logRefusal(error.message, dsn: "5.3.4", envelope: envelope, relay: relay, log: log, localID: localID)
            throw CommandFailure(.messageRefusedLocally, "message too large for \(relay.relay): \(error.message)")
        }
        if error.kind == .recipientsRejected && !error.rejectedRecipients.isEmpty
            && error.rejectedRecipients.allSatisfy({ $0.reply.isPermanent })
        {
            let rejected = error.rejectedRecipients
            record(
                log,
                rejected.map {
                    entry(
                        localID, envelope.sender, $0.recipient, relay, delay, .bounced,
                        PostfixWording.said($0.reply, relay: relay.relay, stage: .rcpt))
                })
            let summary =
                rejected.count == 1
                ? "\(relay.relay) refused a recipient; nothing was sent"
                : "\(relay.relay) refused \(rejected.count) recipients; nothing was sent"
            throw CommandFailure(
                .recipientsRefused, summary, details: rejected.map { "<\($0.recipient)>: \($0.reply.description)" })
        }
        if !error.isTransient, let reply = error.reply, reply.isPermanent, let stage = error.stage,
            [.mail, .data, .bdat, .endOfData].contains(stage)
        {
            record(
                log,
                envelope.recipients.map {
                    entry(
                        localID, envelope.sender, $0.address, relay, delay, .bounced,
                        PostfixWording.said(reply, relay: relay.relay, stage: error.stage))
                })
            throw CommandFailure(.messageRefused, "\(relay.relay) refused the message: \(reply.description)")
        }
        var envelope = envelope
        var indexOf: [String: Int] = [:]
        for (index, recipient) in envelope.recipients.enumerated() where indexOf[recipient.address] == nil {
            indexOf[recipient.address] = index
        }
        for rejected in error.rejectedRecipients {
            guard let index = indexOf[rejected.recipient] else { continue }
            envelope.recipients[index].record(
                rejected.reply, text: PostfixWording.said(rejected.reply, relay: relay.relay, stage: .rcpt))
        }
        return try queue(
            message, envelope: envelope, reason: PostfixWording.reason(for: error, relay: relay.relay),
            relay: relay.relay, tls: relay.tlsVersion, log: log,
            protocolError: error.kind == .protocolViolation)
    }

    /// Logs a local refusal (SIZE, SMTPUTF8: the message cannot go to this
    /// relay as it is) as bounced for every recipient.
    func logRefusal(
        _ reason: String, dsn: String, envelope: Envelope, relay: RelaySession, log: DeliveryLog, localID: String
    ) {
        let delay = Double(Int64(time(nil)) - envelope.arrivalTime)
        log.record(
            envelope.recipients.map {
                var line = entry(localID, envelope.sender, $0.address, relay, delay, .bounced, reason)
                line.dsn = dsn
                return line
            })
    }

    /// Puts the message in the queue (durably: fsync'd and renamed before
    /// this returns) for a later run, or fails (``CommandFailure/Kind/couldNotQueue``,
    /// ``CommandFailure/Kind/relayProtocol`` after a protocol error) when it
    /// cannot, leaving nothing behind.
    ///
    /// `alsoLogging` (the lines of recipients already sent to) are logged
    /// with the queue id, so that one submission has one id in the log.
    func queue(
        _ message: OutgoingMessage, envelope: Envelope, reason: String, relay: String?, tls: String? = nil,
        log: DeliveryLog, protocolError: Bool = false, alsoLogging sent: [DeliveryLog.Entry] = []
    ) throws(CommandFailure) -> SubmissionReport {
        let failureKind: CommandFailure.Kind = protocolError ? .relayProtocol : .couldNotQueue
        guard configuration.host.queue else {
            throw CommandFailure(failureKind, "temporary failure and the queue is off: \(reason)")
        }
        var envelope = envelope
        let now = Int64(time(nil))
        let policy = RetryPolicy(
            intervals: configuration.host.retryIntervals, lifetime: configuration.host.queueLifetime)
        envelope.recordDeferral(error: reason, now: now, policy: policy)
        for index in envelope.recipients.indices where envelope.recipients[index].state == .pending {
            if envelope.recipients[index].lastReply.isEmpty { envelope.recipients[index].lastReply = reason }
        }
        let id: QueueID
        // The writer holds the message's lock from its first file until it is
        // released at the end of this function: after the success below, or
        // after abort() removed every file, so a concurrent run never sends a
        // message reported here as failed.
        var writer: QueueFileWriter? = nil
        defer { writer?.release() }
        do {
            try Self.ensureQueueDirectory(configuration.host.queueDirectory, group: queueGroup)
            let store = try QueueStore(directory: configuration.host.queueDirectory, groupID: queueGroup)
            let started = try store.beginMessage()
            writer = started
            do {
                try message.forEachStoredChunk { try started.write($0) }
                id = try started.commit(envelope)
            } catch {
                started.abort()
                throw error
            }
        } catch {
            record(log, sent)
            var summary = "cannot queue the message (\(error)) after: \(reason)"
            if let left = writer?.removalFailure {
                // Two failures in a row: a file may be left. A temporary one is
                // swept; a visible envelope is a complete, queued message.
                summary += "; some of its files could not be removed (\(left))"
            }
            throw CommandFailure(failureKind, summary)
        }
        let delay = Double(now - envelope.arrivalTime)
        // The sent lines carry the queue id of the rest, so every line of this
        // submission has the same id.
        record(
            log,
            sent.map {
                var line = $0
                line.queueID = id.rawValue
                return line
            }
                + envelope.pendingRecipients.map {
                    DeliveryLog.Entry(
                        queueID: id.rawValue, sender: envelope.sender, recipient: $0.address, relay: relay,
                        delay: delay, tls: tls, status: .deferred, reason: $0.lastReply)
                })
        return SubmissionReport(
            id: id.rawValue, notices: ["queued \(id.rawValue): \(reason)"], outcome: .queued(reason: reason))
    }

    /// Creates the queue directory when it does not exist yet (its parent
    /// must), but only for root (security.md: no user may own the directory
    /// other users' mail passes through): mode 2770 with the apus group when
    /// running setgid, else 0700. install.sh creates it; this covers a root
    /// run of a hand-built apus. Any other caller gets `ENOENT`. The parent
    /// is fsync'd before anything is queued in it, so a crash cannot take the
    /// directory (and a message reported queued) away.
    static func ensureQueueDirectory(_ path: String, group: gid_t?) throws(Errno) {
        if try FileSystem.exists(path) { return }
        guard getuid() == 0 else {
            throw Errno(ENOENT, operation: "queue directory (only root creates it)", object: path)
        }
        do {
            try FileSystem.makeDirectory(path, mode: group == nil ? 0o700 : 0o770)
        } catch  where error.code == EEXIST {
            // Made by a concurrent submitter, which may not have synced it yet.
            try FileSystem.syncDirectory(parentDirectory(of: path))
            return
        }
        if let group {
            try FileSystem.changeGroup(path, to: group)
            try FileSystem.changeMode(path, to: 0o2770)
        }
        try FileSystem.syncDirectory(parentDirectory(of: path))
    }

    /// The directory holding `path` ("." for a bare name, "/" at the top).
    static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        let parent = trimmed[..<slash]
        return parent.isEmpty ? "/" : String(parent)
    }

    func entry(
        _ id: String, _ sender: String, _ recipient: String, _ relay: RelaySession, _ delay: Double,
        _ status: DeliveryLog.Status, _ reason: String
    ) -> DeliveryLog.Entry {
        DeliveryLog.Entry(
            queueID: id, sender: sender, recipient: recipient, relay: relay.relay, delay: delay, tls: relay.tlsVersion,
            status: status, reason: reason)
    }

    /// `text` with control characters escaped (`\n`, `\r`, `\x00`), so an
    /// error message quoting a hostile address stays one line.
    static func printable(_ text: String) -> String { DisplayText.oneLine(text, controls: .escaped) }

    // MARK: - Conversions between the configuration's and the engine's types

    static func fromMode(_ policy: FromHeaderPolicy) -> HeaderChanges.FromHeaderMode {
        switch policy {
        case .keep: return .keep
        case .add: return .add
        case .override: return .override
        }
    }

    package static func logDestination(_ target: LogTarget) -> DeliveryLog.Destination {
        switch target {
        case .syslog: return .syslog
        case .file(let path): return .file(path)
        case .off: return .off
        }
    }

    static func dsnReturn(_ text: String?) -> MailParameters.DSNReturn? {
        switch text?.lowercased() {
        case "full": return .full
        case "hdrs": return .headers
        default: return nil
        }
    }

    /// DSN NOTIFY from `-N` or the account's `dsn_notify`: the engine's value and the queue's text.
    static func notify(_ option: String?, account: Account) -> (smtp: DSNNotify?, text: String?) {
        var text = option
        if text == nil, let configured = account.dsnNotify {
            var words: [String] = []
            if configured.contains(.success) { words.append("success") }
            if configured.contains(.failure) { words.append("failure") }
            if configured.contains(.delay) { words.append("delay") }
            text = words.isEmpty ? "never" : words.joined(separator: ",")
        }
        return (notifyValue(text), text)
    }

    /// The address of a queued ORCPT (`rfc822;addr`, as the envelope and
    /// the failure notice hold it), for the engine, which adds `rfc822;`.
    static func orcptAddress(_ stored: String?) -> String? {
        guard let stored else { return nil }
        if stored.lowercased().hasPrefix("rfc822;") { return String(stored.dropFirst(7)) }
        return stored
    }

    /// The engine's NOTIFY for `never` or a comma list.
    static func notifyValue(_ text: String?) -> DSNNotify? {
        guard let text else { return nil }
        var value: DSNNotify = []
        for word in text.split(separator: ",") {
            switch word {
            case "success": value.insert(.success)
            case "failure": value.insert(.failure)
            case "delay": value.insert(.delay)
            default: break
            }
        }
        return value
    }
}
