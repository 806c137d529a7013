import ApusTestSupport
import Foundation
import Testing

@testable import ApusDelivery

private func sampleNotice() -> FailureNotice {
    FailureNotice(
        recipient: "cron@host.example.com", reportingHost: "host.example.com", queueID: "4F2A9C01E3AB",
        arrivalDate: "Sun, 22 Nov 2026 14:03:11 +0000", date: "Mon, 23 Nov 2026 14:03:11 +0000",
        messageID: "<notice1@host.example.com>", remoteMTA: "smtp.example.com[203.0.113.5]:587", envelopeID: "env42",
        summary: "the relay refused it",
        failed: [
            .init(
                address: "nobody@example.com", originalRecipient: "rfc822;nobody@example.com", status: "5.1.1",
                diagnostic: "550 5.1.1 <nobody@example.com>: Recipient address rejected", fromServer: true),
            .init(
                address: "late@example.com", originalRecipient: nil, status: "4.4.7",
                diagnostic: "message expired after 5 days in the queue", fromServer: false),
        ],
        originalHeaders: Array("From: cron@host.example.com\nTo: nobody@example.com\nSubject: backup\n".utf8),
        boundary: "apus-boundary-1")
}

@Test func noticeIsAParsableMultipartReport() throws {
    let text = String(decoding: sampleNotice().message, as: UTF8.self)
    #expect(!text.contains("\r\r"))
    #expect(text.replacingOccurrences(of: "\r\n", with: "").contains("\n") == false)
    // Python's email package is what the tests use as an independent MIME reader.
    let script = """
        import sys, email
        from email import policy
        m = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)
        assert m.get_content_type() == 'multipart/report', m.get_content_type()
        assert m.get_param('report-type') == 'delivery-status'
        parts = list(m.iter_parts())
        print(len(parts), parts[1].get_content_type(), parts[2].get_content_type())
        status = parts[1].get_payload()
        print(len(status), status[1]['Final-Recipient'], status[1]['Status'], status[2]['Status'])
        print(status[0]['Reporting-MTA'], status[0]['Original-Envelope-Id'])
        print(parts[2].get_payload().count('Subject: backup'))
        """
    let python = try Subprocess.run(
        "/usr/bin/env", arguments: ["python3", "-c", script], standardInput: sampleNotice().message)
    #expect(python.status == 0, "\(python.stderr)")
    let result = python.stdout
    #expect(
        result.split(separator: "\n") == [
            "3 message/delivery-status text/rfc822-headers",
            "3 rfc822; nobody@example.com 5.1.1 4.4.7",
            "dns; host.example.com env42",
            "1",
        ])
}

@Test func noticeNamesEachRecipientAndNoBody() {
    let text = String(decoding: sampleNotice().message, as: UTF8.self)
    #expect(text.contains("<nobody@example.com>: 550 5.1.1 <nobody@example.com>: Recipient address rejected"))
    #expect(text.contains("Diagnostic-Code: x-apus; message expired after 5 days in the queue"))
    #expect(text.contains("Remote-MTA: dns; smtp.example.com[203.0.113.5]:587"))
    #expect(text.hasSuffix("--apus-boundary-1--\r\n"))
}

@Test(arguments: [(550, "5.1.1", "5.1.1"), (550, "4.1.1", "5.0.0"), (451, nil, "4.0.0"), (554, nil, "5.0.0")])
func statusFromReply(code: Int, enhanced: String?, expected: String) {
    #expect(FailureNotice.status(code: code, enhancedCode: enhanced) == expected)
}
