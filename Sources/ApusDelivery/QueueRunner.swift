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
///   runner holds is skipped, so two runners never send the same message.
/// - Due messages are grouped by account and sent over one connection per
///   group (RSET between them). A relay that cannot be reached defers the
///   whole group with the reason; nothing is lost.
/// - Per recipient: accepted → `sent` (never sent again), 5xx → `failed`
///   (a failure notice goes to the sender), 4xx or no answer → stays pending
///   with the next attempt from `retry`. A message past `queue_lifetime`
///   fails for its pending recipients.
/// - The envelope is rewritten (fsync'd) after every attempt; a message with
///   nothing pending is removed. A runner that dies leaves the message in the
///   queue: it may be sent once more (at least once, never zero).
public struct QueueRunner {
    /// Which messages a run tries.
    public enum Choice: Sendable {
        /// Those whose next attempt is due.
        case due
        /// All of them (`-qf`).
        case all
        /// Those matching (`-qI`, `-qR`, `-qS`), due or not.
        case matching(QueueFilter)
    }

    /// The configuration.
    public var configuration: Configuration
    /// The SMTP dialogue sink, or nil.
    public var trace: SMTPTrace?
    /// The group queue files get (notices queued by the run), or nil.
    public var queueGroup: gid_t?
    /// Whether a log that cannot be written is mentioned on stderr (`-v`).
    public var reportsLogProblems = false

    /// A runner.
    public init(configuration: Configuration, trace: SMTPTrace?, queueGroup: gid_t?) {
        self.configuration = configuration
        self.trace = trace
        self.queueGroup = queueGroup
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

    var log: DeliveryLog {
        var log = DeliveryLog(destination: Submission.logDestination(configuration.host.log))
        log.reportsProblems = reportsLogProblems
        return log
    }
    var policy: RetryPolicy {
        RetryPolicy(intervals: configuration.host.retryIntervals, lifetime: configuration.host.queueLifetime)
    }

    /// Runs the queue once. Throws a ``CommandFailure`` (74) when the queue
    /// cannot be read; what becomes of each message goes to the log.
    public func run(_ choice: Choice) throws(CommandFailure) {
        let directory = configuration.host.queueDirectory
        guard (try? FileSystem.exists(directory)) == true else { return }
        let store: QueueStore
        let listing: QueueListing
        do {
            store = try QueueStore(directory: directory, groupID: queueGroup)
            listing = try store.list()
        } catch {
            throw CommandFailure(.ioError, "cannot read the queue \(directory): \(error.reason)")
        }
        let now = Int64(time(nil))
        let selected: [QueueEntry]
        switch choice {
        case .due: selected = listing.select(.due(now: now))
        case .all: selected = listing.select(.all)
        case .matching(let filter): selected = listing.select(.matching(filter))
        }
        for (accountName, entries) in selected.grouped(by: { $0.envelope.account }) {
            let account = configuration.account(named: accountName) ?? configuration.defaultAccount
            var group = Group(runner: self, store: store, account: account)
            for entry in entries { group.deliver(entry.id) }
            group.finish()
        }
        try? store.syncRemovals()
        _ = try? store.removeStaleFiles(olderThan: 86400, now: now)
    }

    /// The messages of one account, over one connection.
    struct Group {
        let runner: QueueRunner
        let store: QueueStore
        let account: Account
        var relay: RelaySession? = nil
        /// Why the relay could not be reached, once it failed in this run.
        var unreachable: RelayFailure? = nil
        var used = false

        init(runner: QueueRunner, store: QueueStore, account: Account) {
            self.runner = runner
            self.store = store
            self.account = account
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
                let opened = try RelayConnector(account: account, trace: runner.trace).open()
                relay = opened
                used = false
                return .success(opened)
            } catch {
                unreachable = error
                return .failure(error)
            }
        }

        mutating func deliver(_ id: QueueID) {
            guard let lock = try? store.tryLock(id) else { return }
            defer { lock.release() }
            guard var envelope = try? store.loadEnvelope(id), !envelope.pendingRecipients.isEmpty else { return }
            let now = Int64(time(nil))
            let delay = Double(now - envelope.arrivalTime)

            if runner.policy.isExpired(arrival: envelope.arrivalTime, now: now) {
                let lifetime = QueueRunner.durationText(runner.configuration.host.queueLifetime)
                let reason = "message expired after \(lifetime) in the queue: \(envelope.lastError)"
                var entries: [DeliveryLog.Entry] = []
                for i in envelope.recipients.indices where envelope.recipients[i].state == .pending {
                    envelope.recipients[i].state = .failed
                    envelope.recipients[i].lastReply = reason
                    entries.append(logEntry(id, envelope, envelope.recipients[i].address, nil, delay, nil, .bounced, reason))
                }
                runner.log.record(entries)
                finishMessage(id, envelope: envelope, lock: lock, remoteMTA: nil, expired: true)
                return
            }

            let reuse = relay != nil && used
            guard case .success(let relay) = session() else {
                let failure = unreachable?.message ?? "relay unavailable"
                defer_(id, &envelope, reason: failure, relay: unreachable?.relay, lock: lock, delay: delay)
                return
            }
            used = true
            let message: ReceivedMessage
            do {
                let fd = try store.openData(id)
                defer { fd.close() }
                message = try MessageIntake.read(
                    from: fd, dotTerminates: false, spoolDirectory: runner.configuration.host.queueDirectory)
            } catch {
                defer_(id, &envelope, reason: "cannot read the queued message: \(error)", relay: nil, lock: lock, delay: delay)
                return
            }
            let pending = envelope.pendingRecipients.map {
                SMTPRecipient($0.address, notify: Submission.notifyValue($0.notify), originalRecipient: $0.originalRecipient)
            }
            let outgoing = OutgoingMessage(headers: message.headers, body: message.body, stats: message.stats)
            do {
                let result = try Transmission.send(
                    outgoing, sender: envelope.sender, recipients: pending,
                    dsnReturn: Submission.dsnReturn(envelope.dsnReturn), envelopeID: envelope.dsnEnvelopeID,
                    bodyType: envelope.bodyType, eightBit: account.eightBit, over: relay,
                    policy: .deliverToAccepted, quitAfter: false, resetFirst: reuse && !relay.session.isClosed)
                var entries: [DeliveryLog.Entry] = []
                for outcome in result.recipients {
                    guard let i = envelope.recipients.firstIndex(where: { $0.address == outcome.recipient }) else {
                        continue
                    }
                    let reply = outcome.isAccepted ? result.dataReply.description : outcome.finalReply.description
                    envelope.recipients[i].lastReply = reply
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
                        logEntry(id, envelope, outcome.finalAddress, relay.relay, delay, relay.tlsVersion, status, reply))
                }
                runner.log.record(entries)
                if !envelope.pendingRecipients.isEmpty {
                    envelope.recordDeferral(error: envelope.pendingRecipients[0].lastReply, now: now, policy: runner.policy)
                }
                finishMessage(id, envelope: envelope, lock: lock, remoteMTA: relay.relay, expired: false)
            } catch let error as SMTPError {
                handle(error, id, &envelope, relay: relay, lock: lock, delay: delay)
            } catch let error as Transmission.Unsendable {
                failAll(id, &envelope, reason: error.message, relay: relay, lock: lock, delay: delay)
            } catch {
                defer_(id, &envelope, reason: "\(error)", relay: relay.relay, lock: lock, delay: delay)
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
                for rejected in error.rejectedRecipients {
                    guard let i = envelope.recipients.firstIndex(where: { $0.address == rejected.recipient }) else {
                        continue
                    }
                    envelope.recipients[i].lastReply = rejected.reply.description
                    if rejected.reply.isPermanent { envelope.recipients[i].state = .failed }
                    entries.append(
                        logEntry(
                            id, envelope, rejected.recipient, relay.relay, delay, relay.tlsVersion,
                            rejected.reply.isPermanent ? .bounced : .deferred, rejected.reply.description))
                }
                runner.log.record(entries)
                if !envelope.pendingRecipients.isEmpty {
                    envelope.recordDeferral(
                        error: envelope.pendingRecipients[0].lastReply, now: Int64(time(nil)), policy: runner.policy)
                }
                finishMessage(id, envelope: envelope, lock: lock, remoteMTA: relay.relay, expired: false)
            } else if !error.isTransient, let reply = error.reply, reply.isPermanent {
                failAll(id, &envelope, reason: reply.description, relay: relay, lock: lock, delay: delay)
            } else {
                // The connection may be unusable now: the next message reconnects.
                relay.session.close()
                self.relay = nil
                defer_(id, &envelope, reason: "\(relay.relay): \(error.description)", relay: relay.relay, lock: lock, delay: delay)
            }
        }

        func defer_(
            _ id: QueueID, _ envelope: inout Envelope, reason: String, relay: String?, lock: MessageLock, delay: Double
        ) {
            envelope.recordDeferral(error: reason, now: Int64(time(nil)), policy: runner.policy)
            runner.log.record(
                envelope.pendingRecipients.map { logEntry(id, envelope, $0.address, relay, delay, nil, .deferred, reason) })
            try? store.update(envelope, for: lock)
        }

        func failAll(
            _ id: QueueID, _ envelope: inout Envelope, reason: String, relay: RelaySession, lock: MessageLock,
            delay: Double
        ) {
            var entries: [DeliveryLog.Entry] = []
            for i in envelope.recipients.indices where envelope.recipients[i].state == .pending {
                envelope.recipients[i].state = .failed
                envelope.recipients[i].lastReply = reason
                entries.append(
                    logEntry(id, envelope, envelope.recipients[i].address, relay.relay, delay, relay.tlsVersion, .bounced, reason))
            }
            runner.log.record(entries)
            finishMessage(id, envelope: envelope, lock: lock, remoteMTA: relay.relay, expired: false)
        }

        /// Removes a message with nothing pending (queueing a failure notice
        /// first when recipients failed), or saves its new state.
        func finishMessage(_ id: QueueID, envelope: Envelope, lock: MessageLock, remoteMTA: String?, expired: Bool) {
            guard envelope.pendingRecipients.isEmpty else {
                try? store.update(envelope, for: lock)
                return
            }
            let failed = envelope.recipients.filter { $0.state == .failed }
            if !failed.isEmpty && runner.configuration.host.bounce && !envelope.sender.isEmpty {
                // The notice is queued before the message goes: if queueing it fails, keep the message.
                do {
                    try queueNotice(for: id, envelope: envelope, failed: failed, remoteMTA: remoteMTA, expired: expired)
                } catch {
                    // Keep it for a later run: the failed recipients wait again (they
                    // fail again then and the notice is retried). Saved as failed, the
                    // message would be finished: never selected, never listed, no notice.
                    var kept = envelope
                    for i in kept.recipients.indices where kept.recipients[i].state == .failed {
                        kept.recipients[i].state = .pending
                    }
                    kept.recordDeferral(
                        error: "cannot queue the failure notice: \(error)", now: Int64(time(nil)), policy: runner.policy)
                    try? store.update(kept, for: lock)
                    return
                }
            }
            try? store.remove(lock, syncDirectory: false)
        }

        /// Puts an RFC 3464 notice for the failed recipients in the queue,
        /// from `<>` to the sender, due at once (the next run sends it).
        func queueNotice(
            for id: QueueID, envelope: Envelope, failed: [QueueRecipient], remoteMTA: String?, expired: Bool
        ) throws {
            let originalHeaders = try readHeaderBlock(id)
            let domain = account.domain
            let boundary = "apus-" + Base64.encodeString(try FileSystem.randomBytes(12)).filter { $0.isLetter || $0.isNumber }
            let notice = FailureNotice(
                recipient: envelope.sender, reportingHost: domain, queueID: id.rawValue,
                arrivalDate: MessageDate.format(secondsSinceEpoch: envelope.arrivalTime, utcOffsetSeconds: 0),
                date: MessageDate.now(), messageID: try MessageID.generate(domain: domain), remoteMTA: remoteMTA,
                envelopeID: envelope.dsnEnvelopeID,
                summary: expired ? "it stayed in the queue too long" : "the relay refused it",
                failed: failed.map { recipient in
                    let code = Int(recipient.lastReply.prefix(3)) ?? 0
                    let enhanced = recipient.lastReply.split(separator: " ").dropFirst().first.map(String.init)
                    return FailureNotice.FailedRecipient(
                        address: recipient.address, originalRecipient: recipient.originalRecipient,
                        status: expired ? "4.4.7" : FailureNotice.status(code: code, enhancedCode: enhanced),
                        diagnostic: recipient.lastReply, fromServer: !expired && code >= 500)
                }, originalHeaders: originalHeaders, boundary: boundary)
            let writer = try store.beginMessage()
            do {
                try writer.write(notice.message)
                let now = Int64(time(nil))
                _ = try writer.commit(
                    Envelope(
                        sender: "", recipients: [QueueRecipient(address: envelope.sender)], account: envelope.account,
                        arrivalTime: now))
            } catch {
                writer.abort()
                throw error
            }
        }

        /// The stored message's header block (up to the first empty line, at most 64 KiB).
        func readHeaderBlock(_ id: QueueID) throws -> [UInt8] {
            let fd = try store.openData(id)
            defer { fd.close() }
            var bytes: [UInt8] = []
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 1)
            defer { chunk.deallocate() }
            while bytes.count < 1 << 16 {
                let n = try fd.read(into: chunk)
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
                queueID: id.rawValue, sender: envelope.sender, recipient: recipient, relay: relay, delay: delay, tls: tls,
                status: status, reason: reason)
        }
    }
}
