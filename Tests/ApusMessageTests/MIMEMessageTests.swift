import ApusMessage
import ApusTestSupport
import Foundation
import Testing

/// Parses `message` with Python's `email` package (policy=default) and returns a
/// JSON description: subject, from/to, and each leaf part's type, file name and
/// decoded bytes (base64).
func parseWithPython(_ message: [UInt8]) throws -> [String: Any] {
    let script = """
        import sys, json, base64, email, email.policy
        m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
        parts = []
        for p in m.walk():
            if p.is_multipart():
                continue
            parts.append({"type": p.get_content_type(), "filename": p.get_filename(),
                          "data": base64.b64encode(p.get_payload(decode=True)).decode(),
                          "defects": len(p.defects)})
        print(json.dumps({"subject": str(m["subject"]), "from": str(m["from"]), "to": str(m["to"]),
                          "top": m.get_content_type(), "defects": len(m.defects), "parts": parts}))
        """
    let python = try Subprocess.run("/usr/bin/env", arguments: ["python3", "-c", script], standardInput: message)
    #expect(python.status == 0, "\(python.stderr)")
    return try JSONSerialization.jsonObject(with: Data(python.standardOutput)) as? [String: Any] ?? [:]
}

@Suite struct MIMEMessageTests {
    func decoded(_ part: [String: Any]) -> [UInt8] { Base64.decode((part["data"] as? String) ?? "") ?? [] }

    @Test func alternativesAttachmentsEncodedWordsAndFileNamesParseBackInPython() throws {
        var m = MIMEMessage()
        m.from = try Mailbox(localPart: "ann", domain: "example.org", displayName: "Änn Exämple")
        m.to = [
            try Mailbox(localPart: "bob", domain: "example.net", displayName: "Bob, Jr."),
            try Mailbox(localPart: "c", domain: "x.test"),
        ]
        let subject = "Grüße — a subject long enough to need several encoded words: 日本語のテキスト, ünïcödé everywhere"
        m.subject = subject
        let text =
            "Hello Bob,\n\nThe report is attached. Ünïcode: ✓.\n" + String(repeating: "long line ", count: 30)
            + "\n.\nFrom here\n"
        m.text = text
        m.html = "<p>Hello <b>Bob</b> ✓</p>\n"
        let binary = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let longName = "Quartalsbericht für das dritte Quartal – endgültige Fassung (überarbeitet).pdf"
        m.attachments = [
            .init(fileName: "report.pdf", contentType: "application/pdf", data: binary),
            .init(fileName: longName, contentType: "application/pdf", data: Array("tiny".utf8)),
            .init(fileName: "notes; \"quoted\".txt", contentType: "text/plain", data: Array("a\r\nb\r\n".utf8)),
        ]
        let wire = try m.build()
        let lines = wire.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
        for line in lines { #expect(line.last == 0x0D && line.count <= 79, "\(Array(line).text)") }
        #expect(!wire.contains { $0 >= 0x80 })

        let parsed = try parseWithPython(wire)
        #expect(parsed["subject"] as? String == subject)
        #expect(parsed["from"] as? String == "Änn Exämple <ann@example.org>")
        #expect(parsed["to"] as? String == "\"Bob, Jr.\" <bob@example.net>, c@x.test")
        #expect(parsed["top"] as? String == "multipart/mixed")
        #expect(parsed["defects"] as? Int == 0)
        let parts = try #require(parsed["parts"] as? [[String: Any]])
        #expect(
            parts.map { $0["type"] as? String } == [
                "text/plain", "text/html", "application/pdf", "application/pdf", "text/plain",
            ])
        #expect(parts.allSatisfy { $0["defects"] as? Int == 0 })
        #expect(decoded(parts[0]).text == text.replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(decoded(parts[1]).text == "<p>Hello <b>Bob</b> ✓</p>\r\n")
        #expect(decoded(parts[2]) == binary)
        #expect(parts[2]["filename"] as? String == "report.pdf")
        #expect(parts[3]["filename"] as? String == longName)
        #expect(decoded(parts[3]).text == "tiny")
        #expect(parts[4]["filename"] as? String == "notes; \"quoted\".txt")
        #expect(decoded(parts[4]).text == "a\r\nb\r\n")
    }

    @Test func textOnlyIsASinglePart() throws {
        var m = MIMEMessage()
        m.subject = "plain"
        m.text = "just text\n"
        let parsed = try parseWithPython(try m.build())
        #expect(parsed["top"] as? String == "text/plain")
        #expect(parsed["subject"] as? String == "plain")
        let parts = try #require(parsed["parts"] as? [[String: Any]])
        #expect(parts.count == 1 && decoded(parts[0]).text == "just text\r\n")
    }

    @Test func badContentTypeIsRefused() {
        var m = MIMEMessage()
        m.attachments = [.init(fileName: "x", contentType: "text/plain\r\nBcc: x", data: [])]
        #expect(throws: MessageError.self) { try m.build() }
    }

    @Test(arguments: [
        ("a.txt", "; filename=a.txt"), ("a b.txt", "; filename=\"a b.txt\""),
        ("ü.txt", "; filename*=utf-8''%C3%BC.txt"),
    ])
    func parameters(value: String, expected: String) {
        #expect(MIMEParameter.format(name: "filename", value: value).text == expected)
    }

    @Test func bodiesStreamThroughTheReaderIntoQuotedPrintable() throws {
        // The apus path for a server without 8BITMIME: read, decide, convert headers, encode the body line by line.
        let input = try fixture("debian-cron.eml")
        var reader = MessageReader(dotTerminates: false)
        reader.append(input)
        reader.finish()
        var headers = Headers()
        var encoder = QuotedPrintableEncoder()
        var body: [UInt8] = []
        while let e = try reader.next() {
            switch e {
            case .header(let f): headers.append(f)
            case .bodyLine(let l): encoder.encode(line: l, into: &body)
            case .bodyPart(let p): encoder.encode(part: p, into: &body)
            case .endOfHeaders, .end: break
            }
        }
        #expect(
            BodyTransfer.decide(headers: headers, stats: reader.stats, serverHas8BITMIME: false, convertEightBit: true)
                == .quotedPrintable)
        let wire = BodyTransfer.convertingHeadersToQuotedPrintable(headers).bytes + [13, 10] + body
        #expect(!wire.contains { $0 >= 0x80 })
        let parsed = try parseWithPython(wire)
        let parts = try #require(parsed["parts"] as? [[String: Any]])
        let original = input.split(separator: 0x0A, omittingEmptySubsequences: false)
        let bodyStart = try #require(original.firstIndex { $0.isEmpty })
        let expected = original[(bodyStart + 1)...].dropLast().map { Array($0) + [13, 10] }.reduce([], +)
        #expect(decoded(parts[0]) == expected)
    }
}
