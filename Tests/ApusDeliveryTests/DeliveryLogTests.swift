import ApusSMTP
import Foundation
import Testing

@testable import ApusDelivery

@Test func postfixStyleLine() {
    let entry = DeliveryLog.Entry(
        queueID: "4F2A9C01E3", sender: "a@x", recipient: "b@y", relay: "smtp.example.com[203.0.113.5]:587",
        delay: 0.421, tls: "TLSv1.3", status: .sent, reason: "250 2.0.0 Ok: queued as ABC")
    #expect(
        entry.line
            == "4F2A9C01E3: from=<a@x>, to=<b@y>, relay=smtp.example.com[203.0.113.5]:587, delay=0.42, tls=TLSv1.3, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as ABC)"
    )
    let deferred = DeliveryLog.Entry(
        queueID: "ABCDEF0123", sender: "", recipient: "b@y", relay: nil, delay: 12.6, tls: nil, status: .deferred,
        reason: "connect to smtp.example.com[203.0.113.5]:587: Connection refused\r\ninjected")
    #expect(
        deferred.line
            == "ABCDEF0123: from=<>, to=<b@y>, relay=none, delay=13, dsn=4.4.1, status=deferred (connect to smtp.example.com[203.0.113.5]:587: Connection refused  injected)"
    )
}

@Test(arguments: [(0.0, "0.00"), (0.05, "0.05"), (1.5, "1.50"), (9.994, "9.99"), (10.4, "10"), (-1.0, "0.00")])
func delayFormat(seconds: Double, text: String) {
    #expect(DeliveryLog.formatDelay(seconds) == text)
}

@Test func fileDestinationAppendsOneLinePerEntry() throws {
    let path = NSTemporaryDirectory() + "apus-log-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer { unlink(path) }
    let log = DeliveryLog(destination: .file(path))
    let entry = DeliveryLog.Entry(
        queueID: "ID1", sender: "a@x", recipient: "b@y", relay: nil, delay: 0, tls: nil, status: .bounced,
        reason: "550 no")
    #expect(log.record([entry, entry]) == nil)
    #expect(log.record([entry]) == nil)
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
    #expect(lines.count == 3)
    #expect(
        lines.allSatisfy {
            $0.hasSuffix("ID1: from=<a@x>, to=<b@y>, relay=none, delay=0.00, dsn=5.0.0, status=bounced (550 no)")
        })
}

@Test func unwritableLogFileIsReportedNotThrown() {
    let log = DeliveryLog(destination: .file("/nonexistent-dir/apus.log"))
    let entry = DeliveryLog.Entry(
        queueID: "ID1", sender: "a@x", recipient: "b@y", relay: nil, delay: 0, tls: nil, status: .sent, reason: "250")
    #expect(log.record([entry])?.code == ENOENT)
}

@Test(arguments: [
    (Int64(432000), "5 days"), (86400, "1 day"), (43200, "12 hours"), (1800, "30 minutes"), (1, "1 second"),
    (90, "90 seconds"),
])
func queueLifetimeWording(seconds: Int64, text: String) {
    #expect(QueueRunner.durationText(seconds) == text)
}

/// Postfix's words for replies, lost connections and time-outs, and the dsn= field.
@Test func postfixWording() throws {
    let reply = SMTPReply(code: 451, lines: ["4.3.0 Try again later"])
    let relay = "smtp.example.com[203.0.113.5]:587"
    #expect(
        PostfixWording.said(reply, relay: relay, stage: .rcpt)
            == "host smtp.example.com[203.0.113.5] said: 451 4.3.0 Try again later (in reply to RCPT TO command)")
    #expect(PostfixWording.said(reply, relay: relay, stage: .mail).hasSuffix("(in reply to MAIL FROM command)"))
    #expect(PostfixWording.said(reply, relay: relay, stage: .endOfData).hasSuffix("(in reply to end of DATA command)"))
    #expect(PostfixWording.said(reply, relay: relay, stage: .bdat).hasSuffix("(in reply to end of DATA command)"))
    #expect(
        PostfixWording.said(reply, relay: relay, stage: .greeting).hasPrefix(
            "host smtp.example.com[203.0.113.5] refused to talk to me: 451"))
    #expect(PostfixWording.said(reply, relay: relay, stage: .data).hasSuffix("(in reply to DATA command)"))
    #expect(
        PostfixWording.said(reply, relay: relay, stage: nil)
            == "host smtp.example.com[203.0.113.5] said: 451 4.3.0 Try again later")
    let lost = SMTPError(.connection, "connection closed", stage: .endOfData)
    #expect(
        PostfixWording.reason(for: lost, relay: relay)
            == "lost connection with smtp.example.com[203.0.113.5] while sending end of data -- message may be sent more than once"
    )
    let late = SMTPError(.timeout, "timed out", stage: .mail)
    #expect(
        PostfixWording.reason(for: late, relay: relay)
            == "conversation with smtp.example.com[203.0.113.5] timed out while sending MAIL FROM")
    #expect(PostfixWording.host("[::1]:25") == "[::1]" && PostfixWording.host("mx:25") == "mx")
    let line = DeliveryLog.Entry(
        queueID: "ABCDEF0123", sender: "a@x", recipient: "b@y", relay: relay, delay: 1, tls: "TLSv1.3",
        status: .deferred, reason: PostfixWording.said(reply, relay: relay, stage: .rcpt)
    ).line
    #expect(
        line
            == "ABCDEF0123: from=<a@x>, to=<b@y>, relay=smtp.example.com[203.0.113.5]:587, delay=1.00, tls=TLSv1.3, dsn=4.3.0, status=deferred (host smtp.example.com[203.0.113.5] said: 451 4.3.0 Try again later (in reply to RCPT TO command))"
    )
    #expect(
        PostfixWording.dsn(reason: "host h[a] said: 550 no such user (in reply to RCPT TO command)", status: .bounced)
            == "5.0.0")
    #expect(
        PostfixWording.dsn(reason: "lost connection with h[a] while sending MAIL FROM", status: .deferred) == "4.4.2")
    #expect(PostfixWording.dsn(reason: "250 2.6.0 Ok: queued as X", status: .sent) == "2.6.0")
}
