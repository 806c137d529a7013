import ApusConfig
import ApusMessage
import ApusPOSIX
import ApusQueue
import ApusSMTP
import Glibc

/// One run over the queue (`-q`, `-qf`, `-qI/-qR/-qS`).
///
/// Failure policy (delivery.md "Queue", "Outcomes"):
/// - Messages are taken one at a time under their `flock`; one that another
///   runner (or its still-working submitter) holds is skipped, so two
///   processes never send the same message.
/// - Due messages are grouped by configuration file and account and sent over
///   one connection per group (RSET between them). A relay that cannot be
///   reached defers the whole group with the reason; nothing is lost.
/// - Per recipient: accepted → `sent` (never sent again), 5xx → `failed`
///   (a failure notice goes to the sender), 4xx or no answer → stays pending
///   with the next attempt from `retry`. A message past `queue_lifetime`
///   fails for its pending recipients (once it has been tried at least once).
/// - A failure notice is queued durably, then sent in the same run over the
///   group's connection (it goes through the same account).
/// - The envelope is rewritten (fsync'd) after every attempt; a message with
///   nothing pending is removed. A runner that dies leaves the message in the
///   queue: it may be sent once more (at least once, never zero).
/// - A message queued with `-C FILE` is sent with that file's account, unless
///   the run itself was given `-C` (then its file applies to every message);
///   when the file is gone or unsafe the message stays queued, the reason says why.
/// - Storage failures never pass silently; each call's safe action is written
///   beside it. They are logged (`warning:`), printed with `-v`, and make the
///   run exit 74. One that could make the next run send a message again (an
///   envelope update or removal that fails twice) also stops the run.
/// - Messages that cannot be read back go to `corrupt/` (``QueueStore/moveToCorrupt(_:)``).
package struct QueueRunner {
    /// Which messages a run tries.
    package enum Choice: Sendable {
        /// Those whose next attempt is due.
        case due
        /// All of them (`-qf`).
        case all
        /// Those matching (`-qI`, `-qR`, `-qS`), due or not.
        case matching(QueueFilter)
    }

    /// The configuration.
    package var configuration: Configuration
    /// The SMTP dialogue sink, or nil.
    package var trace: SMTPTrace?
    /// The group queue files get (notices queued by the run), or nil.
    package var queueGroup: gid_t?
    /// Whether a message's recorded `-C` file is used (true unless the run was
    /// itself given `-C`, whose file then applies to every message).
    package var usesRecordedConfigurations: Bool
    /// `-v`: per-message lines and storage failures go here (stderr), or nil.
    package var verbose: ((String) -> Void)?

    /// A runner.
    package init(
        configuration: Configuration, trace: SMTPTrace?, queueGroup: gid_t?, usesRecordedConfigurations: Bool = false,
        verbose: ((String) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.trace = trace
        self.queueGroup = queueGroup
        self.usesRecordedConfigurations = usesRecordedConfigurations
        self.verbose = verbose
    }

    /// `5 days`, `12 hours`, `30 minutes`, `1 second`: the largest whole unit.
    static func durationText(_ seconds: Int64) -> String {
        let units: [(Int64, String)] = [(86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")]
        for (size, name) in units where seconds >= size && seconds % size == 0 {
            let n = seconds / size
            return "\(n) \(name)\(n == 1 ? "" : "s")"
        }
        return "\(seconds) seconds"
    }

    var log: DeliveryLog { DeliveryLog(destination: Submission.logDestination(configuration.host.log)) }

    /// Runs the queue once. Throws a ``CommandFailure``
    /// (``CommandFailure/Kind/queueUnreadable``) when the queue cannot be read,
    /// or when a storage failure happened during the run (after the run: every
    /// failure is logged, and printed with `-v`); what became of each message
    /// goes to the log.
    /// - Returns: the run's report (for `-v`'s "nothing due" line).
    @discardableResult
    package func run(_ choice: Choice) throws(CommandFailure) -> QueueRunReport {
        let report = QueueRunReport(verbose: verbose, log: log)
        let directory = configuration.host.queueDirectory
        let store: QueueStore
        let listing: QueueListing
        do {
            // No queue directory yet: nothing was ever queued.
            guard try FileSystem.exists(directory) else {
                verbose?("apus: the queue is empty\n")
                return report
            }
            store = try QueueStore(directory: directory, groupID: queueGroup)
            listing = try store.list()
        } catch {
            throw CommandFailure(.queueUnreadable, "cannot read the queue \(directory): \(error.reason)")
        }
        let now = Int64(time(nil))
        for problem in listing.problems {
            if problem.isCorrupt {
                quarantine(problem.id, reason: problem.description, store: store, report: report)
            } else {
                // Safe action: keep it (the failure may pass), log it, exit 74.
                report.storageFailure("\(problem.id.rawValue): cannot read the envelope, kept: \(problem.description)")
            }
        }
        let selected: [QueueEntry]
        switch choice {
        case .due: selected = listing.select(.due(now: now))
        case .all: selected = listing.select(.all)
        case .matching(let filter): selected = listing.select(.matching(filter))
        }
        var configurations: [String: Result<Configuration, ConfigurationProblem>] = [:]
        let groups = selected.grouped { entry -> GroupKey in
            let file = usesRecordedConfigurations ? entry.envelope.configurationFile : nil
            return GroupKey(file: file == configuration.file ? nil : file, account: entry.envelope.account)
        }
        for (key, entries) in groups {
            if report.stopped { break }
            var effective = configuration
            if let file = key.file {
                let loaded = configurations[file] ?? Self.loadRecorded(file)
                configurations[file] = loaded
                switch loaded {
                case .success(let other): effective = other
                case .failure(let problem):
                    for entry in entries where !report.stopped {
                        keepWithoutConfiguration(entry.id, reason: problem.message, store: store, report: report)
                    }
                    continue
                }
            }
            let account = effective.account(named: key.account) ?? effective.defaultAccount
            var group = Group(runner: self, configuration: effective, store: store, account: account, report: report)
            group.deliver(entries.map(\.id))
            // Notices queued by this group: sent now, over its connection.
            while !group.created.isEmpty && !report.stopped {
                let notices = group.created
                group.created = []
                group.deliver(notices)
            }
            group.finish()
        }
        // Safe action: a removal not yet durable only means a message may be sent
        // once more after a crash; tried twice, then logged, exit 74.
        do throws(Errno) {
            try Self.twice { () throws(Errno) in try store.syncRemovals() }
        } catch {
            report.storageFailure("cannot sync the queue directory after removals: \(error)")
        }
        // Safe action: a leftover that cannot be removed stays for the next run; logged.
        do throws(Errno) {
            let sweep = try store.sweep(olderThan: QueueStore.staleAge, now: now)
            if !sweep.removed.isEmpty {
                let names = sweep.removed.joined(separator: " ")
                report.note("removed \(sweep.removed.count) leftover file(s) of dead processes: \(names)")
            }
            for failure in sweep.failures { report.storageFailure("cannot remove a leftover file: \(failure)") }
        } catch {
            report.storageFailure("cannot sweep leftovers: \(error)")
        }
        if selected.isEmpty, let verbose {
            let waiting = listing.entries.filter { !$0.envelope.isFinished }
            if let next = waiting.map(\.envelope.nextAttempt).min() {
                let count = waiting.count == 1 ? "1 message" : "\(waiting.count) messages"
                verbose("apus: nothing due; \(count) queued, next attempt \(DeliveryLog.localTime(next))\n")
            } else {
                verbose("apus: the queue is empty\n")
            }
        }
        if let first = report.storageFailures.first {
            let more =
                report.storageFailures.count > 1 ? " (and \(report.storageFailures.count - 1) more, see the log)" : ""
            throw CommandFailure(.queueUnreadable, "queue run: \(first)\(more)")
        }
        return report
    }

    /// The configuration file and account a group of messages goes through.
    struct GroupKey: Hashable {
        var file: String?
        var account: String
    }

    /// Why a recorded configuration file cannot be used.
    struct ConfigurationProblem: Error {
        var message: String
    }

    /// Loads a message's recorded `-C` file if it is still there and safe: a
    /// regular file owned by root and writable by nobody else (as the file was
    /// when root queued the message).
    static func loadRecorded(_ path: String) -> Result<Configuration, ConfigurationProblem> {
        let status: FileStatus
        do {
            status = try FileSystem.status(path)
        } catch {
            return .failure(
                ConfigurationProblem(message: "configuration file \(path) (given with -C): \(error.reason)"))
        }
        guard status.isRegularFile, status.userID == 0, status.permissions & 0o022 == 0 else {
            let reason = "is no longer safe: not root's, or writable by others"
            return .failure(ConfigurationProblem(message: "configuration file \(path) (given with -C) \(reason)"))
        }
        do {
            return .success(try Configuration.load(path: path))
        } catch {
            return .failure(ConfigurationProblem(message: "configuration file \(path) (given with -C): \(error)"))
        }
    }

    /// Runs `body`, and once more if it fails: an envelope update, removal or
    /// sync is idempotent, and a passing failure (a one-off `EIO`) is cured.
    static func twice<T>(_ body: () throws(Errno) -> T) throws(Errno) -> T {
        do throws(Errno) {
            return try body()
        } catch {
            return try body()
        }
    }

    /// Moves a message that cannot be read back to `corrupt/`, under its lock
    /// when its data file exists.
    func quarantine(_ id: QueueID, reason: String, store: QueueStore, report: QueueRunReport) {
        do throws(Errno) {
            switch try store.lock(id) {
            case .locked(let lock):
                defer { lock.release() }
                report.movedToCorrupt(id, to: try store.moveToCorrupt(id), reason: reason)
            case .dataMissing:
                report.movedToCorrupt(id, to: try store.moveToCorrupt(id), reason: reason)
            case .busy, .gone:
                return  // another process has it, or it is gone
            }
        } catch {
            // Safe action: it stays where it is (never sent: it cannot be read), logged, exit 74.
            report.storageFailure("\(id.rawValue): cannot move it to \(store.corruptDirectory): \(error); \(reason)")
        }
    }

    /// Keeps a message whose recorded configuration file cannot be used: it
    /// stays queued (attempt counted, next try scheduled), the reason says why.
    func keepWithoutConfiguration(_ id: QueueID, reason: String, store: QueueStore, report: QueueRunReport) {
        let policy = RetryPolicy(
            intervals: configuration.host.retryIntervals, lifetime: configuration.host.queueLifetime)
        do throws(Errno) {
            guard case .locked(let lock) = try store.lock(id) else { return }
            defer { lock.release() }
            var envelope: Envelope
            do {
                envelope = try store.loadEnvelope(id)
            } catch {
                // Safe action: keep it (listed fine just now, read again next run), log, exit 74.
                report.storageFailure("\(id.rawValue): cannot read the envelope, kept: \(error)")
                return
            }
            envelope.recordDeferral(error: reason, now: Int64(time(nil)), policy: policy)
            for i in envelope.recipients.indices where envelope.recipients[i].state == .pending {
                envelope.recipients[i].record(nil, text: reason)
            }
            try Self.twice { () throws(Errno) in try store.update(envelope, for: lock) }
            report.record(
                envelope.pendingRecipients.map {
                    DeliveryLog.Entry(
                        queueID: id.rawValue, sender: envelope.sender, recipient: $0.address, relay: nil,
                        delay: Double(Int64(time(nil)) - envelope.arrivalTime), tls: nil, status: .deferred,
                        reason: reason)
                })
            report.message(
                id, "deferred until \(DeliveryLog.localTime(envelope.nextAttempt)): \(reason)", deferred: true)
        } catch {
            report.storageFailure("\(id.rawValue): cannot record the deferral: \(error)", stop: true)
        }
    }

    /// The messages of one account, over one connection.
    struct Group {
        let runner: QueueRunner
        let configuration: Configuration
        let store: QueueStore
        let account: Account
        let report: QueueRunReport
        var relay: RelaySession? = nil
        /// Why the relay could not be reached, once it failed in this run.
        var unreachable: RelayFailure? = nil
        var used = false
        /// Failure notices this group queued, still to be sent in this run.
        var created: [QueueID] = []

        init(
            runner: QueueRunner, configuration: Configuration, store: QueueStore, account: Account,
            report: QueueRunReport
        ) {
            self.runner = runner
            self.configuration = configuration
            self.store = store
            self.account = account
            self.report = report
        }

        var policy: RetryPolicy {
            RetryPolicy(intervals: configuration.host.retryIntervals, lifetime: configuration.host.queueLifetime)
        }

        mutating func finish() {
            relay?.close()
            relay = nil
        }

        /// A session for the next message: the open one (the transaction then
        /// starts with RSET, pipelined with MAIL), or a new one.
        mutating func session() -> Result<RelaySession, RelayFailure> {
            if let unreachable { return .failure(unreachable) }
            if let relay, relay.session.isClosed {
                self.relay = nil
            }
            if let relay { return .success(relay) }
            do {
                let opened = try RelayConnector(
                    account: account, trace: runner.trace,
                    tokenCacheDirectory: runner.configuration.host.queueDirectory, tokenCacheGroup: runner.queueGroup
                ).open()
                relay = opened
                used = false
                return .success(opened)
            } catch {
                unreachable = error
                return .failure(error)
            }
        }

        /// A session to the first relay after `current` in the account's list
        /// (relay, then fallbacks) that can be opened, or nil.
        func openFallback(after current: RelaySession) -> RelaySession? {
            let relays = [account.relay] + account.fallbacks
            guard let index = relays.firstIndex(of: current.configured) else { return nil }
            let connector = RelayConnector(
                account: account, trace: runner.trace,
                tokenCacheDirectory: runner.configuration.host.queueDirectory, tokenCacheGroup: runner.queueGroup)
            for configured in relays[(index + 1)...] {
                // A relay that cannot be opened is skipped: the next one is tried,
                // and when none opens the message is deferred with the first reason.
                do {
                    return try connector.open(configured)
                } catch {
                    continue
                }
            }
            return nil
        }

        /// A message under its lock with its envelope read, waiting for its
        /// attempt; read back and prepared ahead when it was announced
        /// behind the previous message's end of data.
        struct Locked {
            let id: QueueID
            let lock: MessageLock
            var envelope: Envelope
            var message: ReceivedMessage? = nil
            var prepared: Transmission.Prepared? = nil
        }

        /// Delivers `ids` in order. The next message is locked and read
        /// before the current one goes, so that (with PIPELINING) its MAIL,
        /// RCPTs and DATA travel in the same write as the current message's
        /// final dot (``SendOptions/next``): one round trip per message.
        /// Each message is still finished (removed or saved) only after its
        /// own verdict.
        ///
        /// The message after the next is locked and read while the relay
        /// works on the current one (between its end of data and its
        /// verdict: ``SendOptions/onMessageSent``), so that work is off the
        /// path between a 354 and the message it asks for.
        mutating func deliver(_ ids: [QueueID]) {
            let ahead = Ahead(ids: ids[...])
            var current = takeNext(ahead)
            while var message = current {
                if report.stopped {
                    message.lock.release()
                    break
                }
                var next = report.stopped ? nil : takeNext(ahead)
                attempt(&message, next: &next, ahead: ahead)
                message.lock.release()
                current = next
            }
            ahead.locked?.lock.release()
            ahead.locked = nil
        }

        /// The ids still to deliver, and the message locked ahead, if any.
        final class Ahead {
            var ids: ArraySlice<QueueID>
            var locked: Locked?
            init(ids: ArraySlice<QueueID>) { self.ids = ids }
        }

        /// The message locked ahead, or the next one that can be locked.
        func takeNext(_ ahead: Ahead) -> Locked? {
            if let locked = ahead.locked {
                ahead.locked = nil
                return locked
            }
            return lockNext(&ahead.ids)
        }

        /// Locks the message after `next` and reads it for `relay` (called
        /// while the relay works on the current message).
        func readAhead(_ ahead: Ahead, over relay: RelaySession) {
            guard ahead.locked == nil, !report.stopped, !ahead.ids.isEmpty else { return }
            var after = lockNext(&ahead.ids)
            _ = announcement(of: &after, over: relay)
            ahead.locked = after
        }

        /// The first of `ids` that can be locked and has recipients pending
        /// (the others are skipped, quarantined or left as ``lock(_:)`` says).
        func lockNext(_ ids: inout ArraySlice<QueueID>) -> Locked? {
            while let id = ids.popFirst() {
                if report.stopped { return nil }
                if let locked = lock(id) { return locked }
            }
            return nil
        }

        /// Locks `id` and reads its envelope; nil when it is busy, gone,
        /// unreadable (reported) or has nothing pending.
        func lock(_ id: QueueID) -> Locked? {
            let lock: MessageLock
            do throws(Errno) {
                switch try store.lock(id) {
                case .locked(let held): lock = held
                case .busy:
                    report.message(id, "skipped: another process is working on it")
                    return nil
                case .gone: return nil
                case .dataMissing:
                    runner.quarantine(id, reason: "its data file is missing", store: store, report: report)
                    return nil
                }
            } catch {
                // Safe action: leave it (it stays queued for the next run), log, exit 74.
                report.storageFailure("\(id.rawValue): cannot lock it, kept for the next run: \(error)")
                return nil
            }
            let envelope: Envelope
            do {
                envelope = try store.loadEnvelope(for: lock)
            } catch let error as Errno where error.code == ENOENT {
                lock.release()
                return nil
            } catch let error as Errno where error.code != EFBIG {
                lock.release()
                // Safe action: keep it (a read failure may pass), log, exit 74.
                report.storageFailure("\(id.rawValue): cannot read the envelope, kept: \(error)")
                return nil
            } catch {
                lock.release()
                runner.quarantine(id, reason: "\(error)", store: store, report: report)
                return nil
            }
            guard !envelope.pendingRecipients.isEmpty else {
                lock.release()
                return nil
            }
            return Locked(id: id, lock: lock, envelope: envelope)
        }

        /// Whether a message has expired: it got at least one attempt (a
        /// notice queued in this run is sent in it whatever the lifetime).
        func isExpired(_ envelope: Envelope, now: Int64) -> Bool {
            envelope.attempts > 0 && policy.isExpired(arrival: envelope.arrivalTime, now: now)
        }

        /// Reads a locked message back from the queue (once: kept for its attempt).
        func readMessage(_ locked: inout Locked) throws -> ReceivedMessage {
            if let message = locked.message { return message }
            let content = try store.openContent(for: locked.lock)
            defer { content.close() }
            let message = try MessageIntake.read(
                dotTerminates: false, spoolDirectory: runner.configuration.host.queueDirectory
            ) { buffer in try content.read(into: buffer) }
            locked.message = message
            return message
        }

        /// The recipients still to try, as SMTP recipients.
        static func pendingRecipients(_ envelope: Envelope) -> [SMTPRecipient] {
            envelope.pendingRecipients.map {
                SMTPRecipient(
                    $0.address, notify: Submission.notifyValue($0.notify),
                    originalRecipient: Submission.orcptAddress($0.originalRecipient))
            }
        }

        /// The locked message made ready for `relay` (the one made ahead when
        /// it was for this session).
        func prepare(_ locked: inout Locked, message: ReceivedMessage, for relay: RelaySession) throws
            -> Transmission.Prepared
        {
            if let prepared = locked.prepared, prepared.session === relay.session {
                locked.prepared = nil  // its source is read once
                return prepared
            }
            let envelope = locked.envelope
            return try Transmission.prepare(
                OutgoingMessage(headers: message.headers, body: message.body, stats: message.stats),
                sender: envelope.sender, recipients: Self.pendingRecipients(envelope),
                dsnReturn: Submission.dsnReturn(envelope.dsnReturn), envelopeID: envelope.dsnEnvelopeID,
                bodyType: envelope.bodyType, eightBit: account.eightBit, for: relay)
        }

        /// The envelope of `next` to announce behind the current message's
        /// end of data over `relay`, with `next` read back and prepared for
        /// it; nil when it cannot be announced (no PIPELINING, expired, not
        /// readable or not sendable as it is: its own attempt then deals with
        /// that, exactly as without announcing).
        func announcement(of next: inout Locked?, over relay: RelaySession) -> SMTPEnvelope? {
            guard var upcoming = next, relay.session.extensions.pipelining, !relay.session.isClosed,
                !isExpired(upcoming.envelope, now: Int64(time(nil)))
            else { return nil }
            defer { next = upcoming }
            do {
                let message = try readMessage(&upcoming)
                let prepared = try prepare(&upcoming, message: message, for: relay)
                upcoming.prepared = prepared
                return prepared.envelope
            } catch {
                return nil  // Read or prepared again at its own attempt, which reports the failure.
            }
        }

        /// One attempt at a locked message (its lock stays with the caller);
        /// `next`, the message that follows, is announced behind its end of
        /// data when the relay allows.
        mutating func attempt(_ locked: inout Locked, next: inout Locked?, ahead: Ahead) {
            let id = locked.id
            let lock = locked.lock
            var envelope = locked.envelope
            let now = Int64(time(nil))
            let delay = Double(now - envelope.arrivalTime)

            // A message gets at least one attempt before it can expire (a notice
            // queued in this run is sent in it whatever the lifetime).
            if isExpired(envelope, now: now) {
                let lifetime = QueueRunner.durationText(configuration.host.queueLifetime)
                let reason = "message expired after \(lifetime) in the queue: \(envelope.lastError)"
                var entries: [DeliveryLog.Entry] = []
                for i in envelope.recipients.indices where envelope.recipients[i].state == .pending {
                    envelope.recipients[i].state = .failed
                    envelope.recipients[i].record(nil, text: reason)
                    entries.append(
                        logEntry(id, envelope, envelope.recipients[i].address, nil, delay, nil, .bounced, reason))
                }
                report.record(entries)
                finishMessage(id, envelope: envelope, lock: lock, remoteMTA: nil, expired: true)
                return
            }

            let reuse = relay != nil && used
            guard case .success(let opened) = session() else {
                let failure = unreachable?.message ?? "relay unavailable"
                deferMessage(id, &envelope, reason: failure, relay: unreachable?.relay, lock: lock, delay: delay)
                return
            }
            used = true
            let message: ReceivedMessage
            do {
                message = try readMessage(&locked)
            } catch MessageIntake.Failure.data(let error) {
                // Bytes that can never be sent (a NUL, from an older apus): retrying cannot help.
                failAll(
                    id, &envelope, reason: "the queued message cannot be sent: \(error)", relay: opened, lock: lock,
                    delay: delay)
                return
            } catch {
                // Safe action: keep it, deferred with the reason; logged, exit 74.
                report.storageFailure("\(id.rawValue): cannot read the queued message, kept: \(error)")
                deferMessage(
                    id, &envelope, reason: "cannot read the queued message: \(error)", relay: nil, lock: lock,
                    delay: delay)
                return
            }
            var relay = opened
            var resetFirst = reuse && !relay.session.isClosed
            do {
                var attempt: SMTPSendResult? = nil
                // The next message is announced on the first relay tried only.
                var announce = announcement(of: &next, over: relay)
                while attempt == nil {
                    do {
                        let prepared = try prepare(&locked, message: message, for: relay)
                        let group = self
                        let current = relay
                        attempt = try Transmission.send(
                            prepared, over: relay, policy: .deliverToAccepted, quitAfter: false,
                            resetFirst: resetFirst, next: announce,
                            onMessageSent: { group.readAhead(ahead, over: current) })
                    } catch let error as SMTPError where error.isTransient {
                        // A 4xx to MAIL, to every RCPT or after the data: the
                        // next fallback relay, if one answers, gets the message.
                        guard let fallback = openFallback(after: relay) else { throw error }
                        relay.session.close()
                        relay = fallback
                        self.relay = fallback
                        resetFirst = false
                        announce = nil
                    }
                }
                guard let result = attempt else { return }
                var entries: [DeliveryLog.Entry] = []
                let indexOf = envelope.recipientIndex
                for outcome in result.recipients {
                    guard let i = indexOf[outcome.recipient] else { continue }
                    // Pending recipients keep Postfix's words (mailq shows them); a
                    // failed one keeps the bare reply for its failure notice.
                    let reply =
                        outcome.isAccepted
                        ? result.dataReply.description
                        : PostfixWording.said(outcome.finalReply, relay: relay.relay, stage: .rcpt)
                    envelope.recipients[i].record(
                        outcome.isAccepted ? result.dataReply : outcome.finalReply,
                        text: outcome.isRefused ? outcome.finalReply.description : reply)
                    let status: DeliveryLog.Status
                    if outcome.isAccepted {
                        envelope.recipients[i].state = .sent
                        status = .sent
                    } else if outcome.isRefused {
                        envelope.recipients[i].state = .failed
                        status = .bounced
                    } else {
                        status = .deferred
                    }
                    entries.append(
                        logEntry(
                            id, envelope, outcome.finalAddress, relay.relay, delay, relay.tlsVersion, status, reply))
                }
                report.record(entries)
                if !envelope.pendingRecipients.isEmpty {
                    envelope.recordDeferral(error: envelope.pendingRecipients[0].lastReply, now: now, policy: policy)
                }
                finishMessage(id, envelope: envelope, lock: lock, remoteMTA: relay.relay, expired: false)
            } catch let error as SMTPError {
                handle(error, id, &envelope, relay: relay, lock: lock, delay: delay)
            } catch let error as Transmission.Unsendable {
                failAll(id, &envelope, reason: error.message, relay: relay, lock: lock, delay: delay)
            } catch {
                deferMessage(id, &envelope, reason: "\(error)", relay: relay.relay, lock: lock, delay: delay)
            }
        }

        mutating func handle(
            _ error: SMTPError, _ id: QueueID, _ envelope: inout Envelope, relay: RelaySession, lock: MessageLock,
            delay: Double
        ) {
            if error.kind == .messageTooLarge {
                failAll(id, &envelope, reason: error.message, relay: relay, lock: lock, delay: delay)
            } else if error.kind == .recipientsRejected, !error.rejectedRecipients.isEmpty {
                var entries: [DeliveryLog.Entry] = []
                let indexOf = envelope.recipientIndex
                for rejected in error.rejectedRecipients {
                    guard let i = indexOf[rejected.recipient] else { continue }
                    let words = PostfixWording.said(rejected.reply, relay: relay.relay, stage: .rcpt)
                    envelope.recipients[i].record(
                        rejected.reply, text: rejected.reply.isPermanent ? rejected.reply.description : words)
                    if rejected.reply.isPermanent { envelope.recipients[i].state = .failed }
                    entries.append(
                        logEntry(
                            id, envelope, rejected.recipient, relay.relay, delay, relay.tlsVersion,
                            rejected.reply.isPermanent ? .bounced : .deferred, words))
                }
                report.record(entries)
                if !envelope.pendingRecipients.isEmpty {
                    envelope.recordDeferral(
                        error: envelope.pendingRecipients[0].lastReply, now: Int64(time(nil)), policy: policy)
                }
                finishMessage(id, envelope: envelope, lock: lock, remoteMTA: relay.relay, expired: false)
            } else if !error.isTransient, let reply = error.reply, reply.isPermanent {
                failAll(
                    id, &envelope, reason: reply.description, reply: reply, relay: relay, lock: lock, delay: delay,
                    logReason: PostfixWording.said(reply, relay: relay.relay, stage: error.stage))
            } else {
                // The connection may be unusable now: the next message reconnects.
                relay.session.close()
                self.relay = nil
                deferMessage(
                    id, &envelope, reason: PostfixWording.reason(for: error, relay: relay.relay), relay: relay.relay,
                    tls: relay.tlsVersion, lock: lock, delay: delay)
            }
        }

        func deferMessage(
            _ id: QueueID, _ envelope: inout Envelope, reason: String, relay: String?, tls: String? = nil,
            lock: MessageLock, delay: Double
        ) {
            envelope.recordDeferral(error: reason, now: Int64(time(nil)), policy: policy)
            report.record(
                envelope.pendingRecipients.map {
                    logEntry(id, envelope, $0.address, relay, delay, tls, .deferred, reason)
                })
            save(id, envelope, lock: lock)
            report.message(
                id, "deferred until \(DeliveryLog.localTime(envelope.nextAttempt)): \(reason)", deferred: true)
        }

        mutating func failAll(
            _ id: QueueID, _ envelope: inout Envelope, reason: String, reply: SMTPReply? = nil, relay: RelaySession,
            lock: MessageLock, delay: Double, logReason: String? = nil
        ) {
            var entries: [DeliveryLog.Entry] = []
            for i in envelope.recipients.indices where envelope.recipients[i].state == .pending {
                envelope.recipients[i].state = .failed
                envelope.recipients[i].record(reply, text: reason)
                entries.append(
                    logEntry(
                        id, envelope, envelope.recipients[i].address, relay.relay, delay, relay.tlsVersion, .bounced,
                        logReason ?? reason))
            }
            report.record(entries)
            finishMessage(id, envelope: envelope, lock: lock, remoteMTA: relay.relay, expired: false)
        }

        /// Saves a message's new envelope (tried twice). Safe action when it
        /// still fails: the old envelope stays, so the next run may send to
        /// recipients that already have it; the run stops sending (each further
        /// message would risk the same), logs it and exits 74.
        @discardableResult
        func save(_ id: QueueID, _ envelope: Envelope, lock: MessageLock) -> Bool {
            do throws(Errno) {
                try QueueRunner.twice { () throws(Errno) in try store.update(envelope, for: lock) }
                return true
            } catch {
                report.storageFailure(
                    "\(id.rawValue): cannot record the attempt (the next run may send it again): \(error)", stop: true)
                return false
            }
        }

        /// Removes a message with nothing pending (queueing a failure notice
        /// first when recipients failed), or saves its new state.
        mutating func finishMessage(
            _ id: QueueID, envelope: Envelope, lock: MessageLock, remoteMTA: String?, expired: Bool
        ) {
            let sentTo = envelope.recipients.filter { $0.state == .sent && !$0.lastReply.isEmpty }.map(\.address)
            guard envelope.pendingRecipients.isEmpty else {
                if save(id, envelope, lock: lock) {
                    var parts: [String] = []
                    let failedNow = envelope.recipients.filter { $0.state == .failed }
                    if !sentTo.isEmpty { parts.append("sent to \(sentTo.joined(separator: ", "))") }
                    if !failedNow.isEmpty {
                        parts.append("failed for \(failedNow.map(\.address).joined(separator: ", "))")
                    }
                    parts.append(
                        "deferred until \(DeliveryLog.localTime(envelope.nextAttempt)): \(envelope.lastError)")
                    report.message(id, parts.joined(separator: "; "), deferred: true)
                }
                return
            }
            let failed = envelope.recipients.filter { $0.state == .failed }
            var noticeText = ""
            if !failed.isEmpty && configuration.host.bounce && !envelope.sender.isEmpty {
                // The notice is queued before the message goes: if queueing it fails, keep the message.
                do {
                    // Tried twice: a failed attempt leaves nothing behind (QueueFileWriter).
                    let notice: QueueID
                    do {
                        notice = try queueNotice(
                            for: id, envelope: envelope, failed: failed, remoteMTA: remoteMTA, expired: expired)
                    } catch {
                        notice = try queueNotice(
                            for: id, envelope: envelope, failed: failed, remoteMTA: remoteMTA, expired: expired)
                    }
                    created.append(notice)
                    noticeText = "; failure notice \(notice.rawValue) queued"
                } catch {
                    // Keep it for a later run: the failed recipients wait again (they
                    // fail again then and the notice is retried). Saved as failed, the
                    // message would be finished: never selected, never listed, no notice.
                    var kept = envelope
                    for i in kept.recipients.indices where kept.recipients[i].state == .failed {
                        kept.recipients[i].state = .pending
                    }
                    kept.recordDeferral(
                        error: "cannot queue the failure notice: \(error)", now: Int64(time(nil)), policy: policy)
                    // Safe action: logged, exit 74; the message waits with its failed
                    // recipients pending again, so the notice is tried by the next run.
                    report.storageFailure("\(id.rawValue): cannot queue the failure notice, kept: \(error)")
                    if save(id, kept, lock: lock) {
                        let next = DeliveryLog.localTime(kept.nextAttempt)
                        report.message(
                            id, "kept: cannot queue the failure notice; next attempt \(next)", deferred: true)
                    }
                    return
                }
            }
            do throws(Errno) {
                try QueueRunner.twice { () throws(Errno) in try store.remove(lock, syncDirectory: false) }
            } catch {
                // Safe action: the message stays (with every recipient done it is never
                // sent again, as its envelope says); an orphan data file is swept later.
                // Logged, the run stops, exit 74.
                report.storageFailure("\(id.rawValue): cannot remove the finished message: \(error)", stop: true)
            }
            if failed.isEmpty {
                report.message(id, "sent to \(sentTo.joined(separator: ", "))", sent: true)
            } else {
                var text = sentTo.isEmpty ? "" : "sent to \(sentTo.joined(separator: ", ")); "
                text +=
                    "failed for \(failed.map(\.address).joined(separator: ", ")): \(failed[0].lastReply)\(noticeText)"
                report.message(id, text, sent: !sentTo.isEmpty, failed: true)
            }
        }

        /// Puts an RFC 3464 notice for the failed recipients in the queue,
        /// from `<>` to the sender, due at once (this run sends it next).
        func queueNotice(
            for id: QueueID, envelope: Envelope, failed: [QueueRecipient], remoteMTA: String?, expired: Bool
        ) throws -> QueueID {
            let originalHeaders = try readHeaderBlock(id)
            let domain = account.domain
            let boundary =
                "apus-" + Base64.encodeString(try FileSystem.randomBytes(12)).filter { $0.isLetter || $0.isNumber }
            let notice = FailureNotice(
                recipient: envelope.sender, reportingHost: domain, queueID: id.rawValue,
                arrivalDate: MessageDate.format(secondsSinceEpoch: envelope.arrivalTime, utcOffsetSeconds: 0),
                date: MessageDate.now(), messageID: try MessageID.generate(domain: domain), remoteMTA: remoteMTA,
                envelopeID: envelope.dsnEnvelopeID,
                summary: expired ? "it stayed in the queue too long" : "the relay refused it",
                failed: failed.map { recipient in
                    let code = recipient.replyCode ?? 0
                    let enhanced = recipient.status
                    return FailureNotice.FailedRecipient(
                        address: recipient.address, originalRecipient: recipient.originalRecipient,
                        status: expired ? "4.4.7" : FailureNotice.status(code: code, enhancedCode: enhanced),
                        diagnostic: recipient.lastReply, fromServer: !expired && code >= 500)
                }, originalHeaders: originalHeaders, boundary: boundary)
            let writer = try store.beginMessage()
            defer { writer.release() }
            do {
                try writer.write(notice.message)
                let now = Int64(time(nil))
                return try writer.commit(
                    Envelope(
                        sender: "", recipients: [QueueRecipient(address: envelope.sender)], account: envelope.account,
                        arrivalTime: now, configurationFile: envelope.configurationFile))
            } catch {
                writer.abort()
                throw error
            }
        }

        /// The stored message's header block (up to the first empty line, at most 64 KiB).
        func readHeaderBlock(_ id: QueueID) throws -> [UInt8] {
            let content = try store.openContent(id)
            defer { content.close() }
            var bytes: [UInt8] = []
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 1)
            defer { chunk.deallocate() }
            while bytes.count < 1 << 16 {
                let n = try content.read(into: chunk)
                if n == 0 { break }
                bytes += chunk[0..<n]
                if let end = Self.endOfHeaders(bytes) { return Array(bytes[..<end]) }
            }
            return Array(bytes.prefix(1 << 16))
        }

        static func endOfHeaders(_ bytes: [UInt8]) -> Int? {
            var i = 0
            while i + 1 < bytes.count {
                if bytes[i] == 10 && bytes[i + 1] == 10 { return i + 1 }
                if bytes[i] == 10 && bytes[i + 1] == 13 && i + 2 < bytes.count && bytes[i + 2] == 10 { return i + 1 }
                i += 1
            }
            return nil
        }

        func logEntry(
            _ id: QueueID, _ envelope: Envelope, _ recipient: String, _ relay: String?, _ delay: Double, _ tls: String?,
            _ status: DeliveryLog.Status, _ reason: String
        ) -> DeliveryLog.Entry {
            DeliveryLog.Entry(
                queueID: id.rawValue, sender: envelope.sender, recipient: recipient, relay: relay, delay: delay,
                tls: tls,
                status: status, reason: reason)
        }
    }
}
