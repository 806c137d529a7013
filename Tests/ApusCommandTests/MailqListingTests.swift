import ApusCommand
import ApusQueue
import Foundation
import Testing

@Suite struct MailqListingTests {
    init() {
        setenv("TZ", "UTC", 1)
        tzset()
    }

    static let arrival: Int64 = 1_448_200_991  // Sun Nov 22 14:03:11 2015 UTC

    static func entry(_ id: String, _ envelope: Envelope) -> QueueEntry {
        QueueEntry(id: testQueueID(id), envelope: envelope, envelopeFileSize: 300)
    }

    static var queue: [QueueEntry] {
        var first = Envelope(
            sender: "cron@host.example.com", recipients: [QueueRecipient(address: "admin@example.com")],
            arrivalTime: arrival, size: 1532, attempts: 1, nextAttempt: arrival + 300,
            lastError: "connect to smtp.example.com[203.0.113.5]:587: Connection refused")
        first.recipients.append(QueueRecipient(address: "done@example.com", state: .sent, lastReply: "250 ok"))
        let second = Envelope(
            sender: "",
            recipients: [
                QueueRecipient(address: "a@x.org", lastReply: "452 4.2.2 Over quota \"a\"\r\nnext line"),
                QueueRecipient(address: "b@x.org", lastReply: "452 4.2.2 Over quota \"a\"\r\nnext line"),
                QueueRecipient(address: "c@y.org"),
            ],
            arrivalTime: arrival + 86400 * 10 + 3600, size: 20000)
        let finished = Envelope(
            sender: "x@y", recipients: [QueueRecipient(address: "gone@x", state: .failed)], arrivalTime: arrival)
        return [entry("4F2A9C01E3", first), entry("0123456789AB", second), entry("FFFFFFFFFFFF", finished)]
    }

    @Test func textGolden() {
        let expected = """
            -Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------
            4F2A9C01E3      1532 Sun Nov 22 14:03:11  cron@host.example.com
            (connect to smtp.example.com[203.0.113.5]:587: Connection refused; next attempt Sun Nov 22 14:08:11)
                                                     admin@example.com

            0123456789AB     20000 Wed Dec  2 15:03:11  MAILER-DAEMON
            (452 4.2.2 Over quota "a"??next line; next attempt Wed Dec  2 15:03:11)
                                                     a@x.org
                                                     b@x.org
                                                     c@y.org

            -- 22 Kbytes in 2 Requests.

            """
        #expect(MailqListing.text(Self.queue, now: Self.arrival) == expected)
    }

    @Test func textSaysWhenEachMessageIsDue() {
        let due = MailqListing.text([Self.queue[0]], now: Self.arrival + 300)
        #expect(due.contains("(connect to smtp.example.com[203.0.113.5]:587: Connection refused; due now)\n"), "\(due)")
        var fresh = Self.queue[0]
        fresh.envelope.lastError = ""
        fresh.envelope.attempts = 0
        fresh.envelope.nextAttempt = Self.arrival + 60
        let waiting = MailqListing.text([fresh], now: Self.arrival)
        #expect(waiting.contains("\n(next attempt Sun Nov 22 14:04:11)\n"), "\(waiting)")
    }

    @Test func corruptMessagesAreCountedOnAnOwnLine() {
        #expect(MailqListing.corruptLine(0, directory: "/q/corrupt") == nil)
        #expect(
            MailqListing.corruptLine(1, directory: "/q/corrupt")
                == "apus: 1 corrupt message in /q/corrupt (see apus(8), QUEUE FILE FORMAT)\n")
        #expect(
            MailqListing.corruptLine(2, directory: "/q/corrupt")?.hasPrefix("apus: 2 corrupt messages in /q/corrupt")
                == true)
    }

    @Test func textEmpty() {
        #expect(MailqListing.text([]) == "Mail queue is empty\n")
        #expect(MailqListing.text([Self.queue[2]]) == "Mail queue is empty\n")
    }

    @Test func textColumnsMatchTheSpecExample() {
        let text = MailqListing.text([Self.queue[0]])
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------")
        #expect(lines[1] == "4F2A9C01E3      1532 Sun Nov 22 14:03:11  cron@host.example.com")
        #expect(lines[3] == "                                         admin@example.com")
        #expect(lines[5] == "-- 2 Kbytes in 1 Request.")
    }

    @Test func jsonGolden() throws {
        let expected = """
            {"queue_name": "deferred", "queue_id": "4F2A9C01E3", "arrival_time": 1448200991, "message_size": 1532, \
            "forced_expire": false, "sender": "cron@host.example.com", "recipients": [{"address": "admin@example.com", \
            "delay_reason": "connect to smtp.example.com[203.0.113.5]:587: Connection refused"}], "attempts": 1, \
            "next_attempt": 1448201291}
            {"queue_name": "incoming", "queue_id": "0123456789AB", "arrival_time": 1449068591, "message_size": 20000, \
            "forced_expire": false, "sender": "", "recipients": [{"address": "a@x.org", "delay_reason": \
            "452 4.2.2 Over quota \\"a\\"\\r\\nnext line"}, {"address": "b@x.org", "delay_reason": \
            "452 4.2.2 Over quota \\"a\\"\\r\\nnext line"}, {"address": "c@y.org"}], "attempts": 0, \
            "next_attempt": 1449068591}

            """
        let json = MailqListing.json(Self.queue)
        #expect(json == expected)
        for line in json.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["queue_id"] != nil)
        }
        #expect(MailqListing.json([]) == "")
    }

    @Test(arguments: ["", "plain", "q\"b\\s", "\u{0}\u{1}\u{1F}\u{7F}", "tab\tcr\rlf\n", "ünï 😀", "\u{2028}"])
    func jsonStringsParseBack(_ text: String) throws {
        let literal = MailqListing.jsonString(text)
        let decoded = try JSONSerialization.jsonObject(with: Data("[\(literal)]".utf8)) as? [String]
        #expect(decoded == [text])
        #expect(!literal.unicodeScalars.contains { $0.value < 0x20 })
    }
}

/// A queue id the test wrote by hand (a bad one is a bug in the test).
private func testQueueID(_ text: String) -> QueueID {
    guard let id = QueueID(text) else { preconditionFailure("not a queue id: \(text)") }
    return id
}
