import ApusTestSupport
import Foundation
import Testing

/// What apus does to a message for a server that lacks 8BITMIME: SIZE of
/// the re-encoded form, MIME downgrade (delivery.md "SMTP").
@Suite struct CommandConversionTests {
    static let eightBitText = message(
        [
            "From: s@src.example", "Subject: eight", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ],
        body: String(repeating: "\u{e9}", count: 1500) + "\n")

    /// SIZE is declared for the re-encoded body and equals what is sent.
    @Test func sizeIsDeclaredForTheReEncodedBody() throws {
        let (server, sandbox) = try scriptedSandbox {
            $0.extensions = ["PIPELINING", "SIZE 100000", "ENHANCEDSTATUSCODES"]
        }
        let result = try sandbox.run(["a@x.example"], input: Self.eightBitText)
        #expect(result.status == 0, "\(result.summary)")
        let received = try #require(server.messages.first)
        #expect(received.header("Content-Transfer-Encoding") == ["quoted-printable"])
        let size = try #require(received.mailFrom.firstMatch(of: #/SIZE=([0-9]+)/#).map { Int($0.1) ?? -1 })
        #expect(size == received.data.count, "\(received.mailFrom) for \(received.data.count) octets")
    }

    /// A message under the server's SIZE that grows past it when re-encoded
    /// is refused locally (exit 65) before any data is sent.
    @Test(arguments: [true, false])
    func reEncodedOverTheLimitIsDataError(chunking: Bool) throws {
        let (server, sandbox) = try scriptedSandbox {
            $0.extensions = ["PIPELINING", "SIZE 5000", "ENHANCEDSTATUSCODES"] + (chunking ? ["CHUNKING"] : [])
        }
        #expect(Self.eightBitText.utf8.count < 5000)
        let result = try sandbox.run(["a@x.example"], input: Self.eightBitText)
        #expect(result.status == 65, "\(result.summary)")
        #expect(result.stderrLines.count == 1 && result.stderr.contains("5000"), "\(result.summary)")
        let verbs = server.connections.flatMap(\.verbs)
        #expect(!verbs.contains("DATA") && !verbs.contains("BDAT"), "\(verbs)")
        #expect(server.messages.isEmpty)
        #expect(sandbox.queueFiles().isEmpty)
    }

    // MARK: - 8BITMIME downgrade, checked with Python's email parser

    /// Parses the original and the received message with Python's `email`
    /// package: the received one must be 7-bit with lines of at most 998
    /// octets, have no parser defects, keep the structure, and every leaf
    /// must decode to the original's bytes (line ends compared as LF).
    /// Prints `OK` and each leaf's content type and charset.
    static let checker = #"""
        import email, email.policy, sys
        from email import message_from_bytes
        orig = message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.compat32)
        raw = open(sys.argv[2], 'rb').read()
        problems = []
        for n, line in enumerate(raw.replace(b'\r\n', b'\n').split(b'\n')):
            if any(b >= 0x80 for b in line): problems.append('8-bit line %d' % n)
            if len(line) > 998: problems.append('long line %d' % n)
        recv = message_from_bytes(raw, policy=email.policy.compat32)
        o, r = list(orig.walk()), list(recv.walk())
        if len(o) != len(r): problems.append('structure %d vs %d parts' % (len(o), len(r)))
        for a, b in zip(o, r):
            if b.defects: problems.append('defects %r in %s' % (b.defects, b.get_content_type()))
            if a.get_content_type() != b.get_content_type():
                problems.append('type %s became %s' % (a.get_content_type(), b.get_content_type()))
            if not a.is_multipart() and not b.is_multipart():
                x = a.get_payload(decode=True).replace(b'\r\n', b'\n')
                y = b.get_payload(decode=True).replace(b'\r\n', b'\n')
                if x != y: problems.append('payload of %s differs: %r vs %r' % (a.get_content_type(), x[:80], y[:80]))
            print('part %s %s %s' % (b.get_content_type(), b.get_content_charset(), b.get('Content-Transfer-Encoding')))
        print('OK' if not problems else 'PROBLEMS ' + '; '.join(problems))
        """#

    /// Sends `input` through a server without 8BITMIME and returns Python's verdict.
    func downgraded(_ input: [UInt8]) throws -> (report: String, received: ReceivedMessage) {
        let (server, sandbox) = try scriptedSandbox {
            $0.extensions = ["PIPELINING", "SIZE 10485760", "ENHANCEDSTATUSCODES"]
        }
        let result = try sandbox.run(["a@x.example"], bytes: input)
        #expect(result.status == 0, "\(result.summary)")
        let received = try #require(server.messages.first)
        #expect(!received.mailFrom.contains("BODY=8BITMIME"), "\(received.mailFrom)")
        let size = received.mailFrom.firstMatch(of: #/SIZE=([0-9]+)/#).map { Int($0.1) ?? -1 }
        #expect(size == received.data.count, "SIZE is what was sent: \(received.mailFrom), \(received.data.count)")
        let script = try sandbox.directory.write("check.py", Self.checker)
        let original = try sandbox.directory.write("original.eml", input)
        let sent = try sandbox.directory.write("received.eml", received.data)
        let check = try Subprocess.run("/usr/bin/python3", arguments: [script, original, sent])
        #expect(check.status == 0, "\(check.stderr)")
        return (check.stdout, received)
    }

    static func crlf(_ text: String) -> [UInt8] { Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8) }

    @Test func multipartWithEightBitPartsIsDowngradedRecursively() throws {
        let binary: [UInt8] = (0x80...0xFF).map { UInt8($0) } + Array("tail\n".utf8) + (0x80...0x9F).map { UInt8($0) }
        var input = Self.crlf(
            """
            From: s@src.example
            Subject: multipart
            MIME-Version: 1.0
            Content-Type: multipart/mixed; boundary="outer"
            Content-Transfer-Encoding: 8bit

            preamble
            --outer
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: 8bit

            Gr\u{fc}\u{df}e aus K\u{f6}ln = 100 \u{20ac}  
            .leading dot and trailing blanks\t
            --outer
            Content-Type: text/plain; charset=us-ascii

            plain ascii part
            --outer
            Content-Type: multipart/alternative; boundary=inner

            --inner
            Content-Type: text/plain; charset=utf-8

            na\u{ef}ve
            --inner
            Content-Type: text/html; charset=utf-8
            Content-Transfer-Encoding: 8bit

            <p>na\u{ef}ve caf\u{e9}</p>
            --inner--
            --outer
            Content-Type: message/rfc822

            From: inner@src.example
            Subject: forwarded

            Forwarded body \u{e9}t\u{e9}
            --outer
            Content-Type: application/octet-stream
            Content-Transfer-Encoding: binary


            """)
        input += binary.map { $0 == 10 ? [13, 10] : [$0] }.flatMap { $0 }
        input += Self.crlf("\n--outer--\nepilogue\n")
        let (report, received) = try downgraded(input)
        #expect(report.hasSuffix("OK\n"), "\(report)")
        #expect(report.contains("part application/octet-stream None base64"), "\(report)")
        #expect(report.contains("part text/html utf-8 quoted-printable"), "\(report)")
        #expect(report.contains("part text/plain us-ascii None"), "the 7-bit part is untouched: \(report)")
        #expect(received.header("Content-Transfer-Encoding") == ["7bit"])
        #expect(
            received.text.contains("preamble\r\n--outer\r\n") && received.text.hasSuffix("--outer--\r\nepilogue\r\n"))
    }

    @Test(arguments: [
        ("Gr\u{fc}\u{df}e, caf\u{e9}\n", "utf-8"),
        ("", "unknown-8bit"),
    ])
    func messageWithoutMIMEHeadersGetsACharset(body: String, charset: String) throws {
        var input = Array("From: s@src.example\nSubject: no mime\n\n".utf8)
        input += body.isEmpty ? [0x47, 0x72, 0xFC, 0xDF, 0x65, 0x0A] : Array(body.utf8)  // Latin-1 "Grüße"
        let (report, received) = try downgraded(input)
        #expect(report.hasSuffix("OK\n"), "\(report)")
        #expect(report.contains("part text/plain \(charset) quoted-printable"), "\(report)")
        #expect(received.header("MIME-Version") == ["1.0"])
        #expect(received.header("Content-Type") == ["text/plain; charset=\(charset)"])
    }

    @Test func singlePartNonTextIsBase64() throws {
        var input = Self.crlf(
            """
            From: s@src.example
            Subject: binary
            MIME-Version: 1.0
            Content-Type: application/x-thing
            Content-Transfer-Encoding: 8bit


            """)
        input += [0xDE, 0xAD, 0xBE, 0xEF, 13, 10, 0xCA, 0xFE, 13, 10]
        let (report, received) = try downgraded(input)
        #expect(report.hasSuffix("OK\n"), "\(report)")
        #expect(received.header("Content-Transfer-Encoding") == ["base64"])
    }

    /// The real Postfix with 8BITMIME turned off (`smtpd_discard_ehlo_keywords`):
    /// what it delivers parses cleanly and decodes to the original parts.
    @Test func downgradeThroughPostfixWithout8BITMIME() throws {
        var options = InteropTests.options
        options.extraMainSettings.append("smtpd_discard_ehlo_keywords = 8bitmime")
        let postfix = try PostfixServer.start(options)
        defer { postfix.stop() }
        let client = try InteropTests.Client(postfix: postfix)
        var input = Self.crlf(
            """
            From: alice@example.net
            Subject: marker-downgrade
            MIME-Version: 1.0
            Content-Type: multipart/mixed; boundary="b1"

            --b1
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: 8bit

            Gr\u{fc}\u{df}e \u{2014} caf\u{e9}
            --b1
            Content-Type: application/octet-stream
            Content-Transfer-Encoding: 8bit


            """)
        input += [0x80, 0x81, 0xFE, 0xFF, 0x41, 13, 10, 0xC3]
        input += Self.crlf("\n--b1--\n")
        let result = try Subprocess.run(
            client.sendmail, arguments: ["-i", "bob@example.com"], standardInput: input, timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        let mail = try InteropTests.message(postfix, containing: "marker-downgrade")
        let script = try client.directory.write("check.py", Self.checker)
        let original = try client.directory.write("original.eml", input)
        let check = try Subprocess.run("/usr/bin/python3", arguments: [script, original, mail.path])
        #expect(check.stdout.hasSuffix("OK\n"), "\(check.stdout) \(check.stderr)")
        #expect(check.stdout.contains("part application/octet-stream None base64"), "\(check.stdout)")
        #expect(check.stdout.contains("part text/plain utf-8 quoted-printable"), "\(check.stdout)")
    }
}
