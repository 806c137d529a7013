import ApusQueue
import Testing

@Suite struct QueueSelectionTests {
    func entry(_ id: String, sender: String, recipients: [QueueRecipient], next: Int64, account: String = "a")
        -> QueueEntry
    {
        var envelope = Envelope(sender: sender, recipients: recipients, account: account, arrivalTime: 0)
        envelope.nextAttempt = next
        return QueueEntry(id: testQueueID(id), envelope: envelope, envelopeFileSize: 100)
    }

    var listing: QueueListing {
        QueueListing(
            entries: [
                entry(
                    "0000000000A1", sender: "cron@host", recipients: [.init(address: "x@Mail.Example.COM")], next: 10),
                entry(
                    "0000000000B2", sender: "alice@host",
                    recipients: [.init(address: "y@other.org"), .init(address: "z@example.com", state: .sent)],
                    next: 20, account: "b"),
                entry("0000000000C3", sender: "", recipients: [.init(address: "w@example.com")], next: 30),
                entry(
                    "0000000000D4", sender: "cron@host", recipients: [.init(address: "v@example.com", state: .failed)],
                    next: 0),
            ], problems: [])
    }

    @Test func dueSelection() {
        #expect(listing.select(.due(now: 9)).map(\.id.rawValue) == [])
        #expect(listing.select(.due(now: 20)).map(\.id.rawValue) == ["0000000000A1", "0000000000B2"])
        #expect(listing.select(.all).count == 3)  // finished messages are never selected
    }

    @Test func filters() {
        func ids(_ filter: QueueFilter) -> [String] { listing.select(.matching(filter)).map(\.id.rawValue) }
        #expect(ids(QueueFilter(idContains: "B2")) == ["0000000000B2"])
        #expect(ids(QueueFilter(idContains: "b2")) == [])
        #expect(ids(QueueFilter(recipientDomainContains: "EXAMPLE.com")) == ["0000000000A1", "0000000000C3"])
        #expect(ids(QueueFilter(recipientDomainContains: "mail.example")) == ["0000000000A1"])
        #expect(ids(QueueFilter(recipientDomainContains: "x@")) == [])  // the domain only
        #expect(ids(QueueFilter(senderContains: "cron")) == ["0000000000A1"])
        #expect(ids(QueueFilter(recipientDomainContains: "example", senderContains: "cron")) == ["0000000000A1"])
    }

    @Test func grouping() {
        let groups = listing.entries.grouped { $0.envelope.account }
        #expect(groups.map(\.key) == ["a", "b"])
        #expect(groups[0].entries.map(\.id.rawValue) == ["0000000000A1", "0000000000C3", "0000000000D4"])
    }

    @Test func retrySchedule() {
        let policy = RetryPolicy(intervals: [300, 900, 3600], lifetime: 5 * 86400)
        #expect(policy.nextAttempt(afterAttempts: 1, now: 1000) == 1300)
        #expect(policy.nextAttempt(afterAttempts: 2, now: 1000) == 1900)
        #expect(policy.nextAttempt(afterAttempts: 3, now: 1000) == 4600)
        #expect(policy.nextAttempt(afterAttempts: 50, now: 1000) == 4600)
        #expect(RetryPolicy(intervals: [], lifetime: 1).nextAttempt(afterAttempts: 1, now: 7) == 7)
        #expect(!policy.isExpired(arrival: 0, now: 5 * 86400 - 1))
        #expect(policy.isExpired(arrival: 0, now: 5 * 86400))
        #expect(policy.nextAttempt(afterAttempts: 1, now: Int64.max) == Int64.max)
    }

    @Test func queueIDs() throws {
        let id = try QueueID.random()
        #expect(id.rawValue.count == 12)
        #expect(QueueID(id.rawValue) == id)
        #expect(QueueID("4F2A9C01E3") != nil)
        #expect(QueueID("4f2a9c01e3") == nil)
        #expect(QueueID("4F2A9C01E") == nil)
        #expect(QueueID("../../etc/x") == nil)
        #expect(Set((0..<1000).map { _ in try! QueueID.random() }).count == 1000)
    }

    @Test func faultSpecifications() {
        #expect(
            FaultInjection(specification: "queue.message.synced")
                == FaultInjection(point: .messageSynced, action: .kill))
        #expect(
            FaultInjection(specification: "queue.data.write:ENOSPC")
                == FaultInjection(point: .dataWrite, action: .fail(28)))
        #expect(
            FaultInjection(specification: "queue.remove.data:5") == FaultInjection(point: .removeData, action: .fail(5))
        )
        #expect(FaultInjection(specification: "bogus") == .none)
    }
}

/// A queue id the test wrote by hand (a bad one is a bug in the test).
private func testQueueID(_ text: String) -> QueueID {
    guard let id = QueueID(text) else { preconditionFailure("not a queue id: \(text)") }
    return id
}
