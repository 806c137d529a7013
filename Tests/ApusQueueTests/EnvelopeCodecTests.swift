import ApusQueue
import ApusTestSupport
import Testing

@Suite struct EnvelopeCodecTests {
    static let hostile = [
        "", " ", "a b", "100%", "%41", "line\r\nrcpt: pending evil@x", "nul\0byte", "tab\there", "\u{7F}",
        "end", "\nend\n", "ünïcødé 😀", "key: value", "=", "notify=x reply=y", "%%%",
    ]

    @Test func roundTripFull() throws {
        var envelope = sampleEnvelope()
        envelope.attempts = 3
        envelope.nextAttempt = 1_700_003_600
        envelope.lastError = "connect to smtp.example.com[203.0.113.5]:587: Connection refused"
        envelope.dsnReturn = "HDRS"
        envelope.dsnEnvelopeID = "QQ314159"
        envelope.bodyType = "8BITMIME"
        envelope.size = 1532
        envelope.recipients[0].notify = "FAILURE,DELAY"
        envelope.recipients[0].originalRecipient = "rfc822;admin@example.com"
        envelope.recipients.append(
            QueueRecipient(address: "c@x", state: .failed, lastReply: "550 5.1.1 no", replyCode: 550, status: "5.1.1"))
        envelope.extraFields = [EnvelopeExtraField(key: "x-future", value: "some value")]
        let bytes = envelope.encode()
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix("version: 3\n"))
        #expect(text.contains("rcpt: failed c@x reply=550%205.1.1%20no code=550 status=5.1.1\n"))
        #expect(text.hasSuffix("\nend\n"))
        #expect(text.contains("rcpt: pending admin@example.com notify=FAILURE,DELAY orcpt=rfc822;admin@example.com\n"))
        #expect(text.contains("rcpt: sent bob@Example.ORG reply=250%202.0.0%20Ok\n"))
        #expect(try Envelope.decode(bytes, path: "t") == envelope)
    }

    /// `-C` messages: version 2 with `config`; a file without it stays version 1,
    /// and version-1 files (written before the key existed) are still read.
    @Test func configurationFileIsVersionTwoAndOldFilesStillRead() throws {
        var envelope = sampleEnvelope()
        envelope.configurationFile = "/etc/apus-other.conf"
        let text = String(decoding: envelope.encode(), as: UTF8.self)
        #expect(text.hasPrefix("version: 2\n"))
        #expect(text.contains("\nconfig: /etc/apus-other.conf\n"))
        #expect(try Envelope.decode(envelope.encode(), path: "t") == envelope)
        let old = "version: 1\narrival: 5\nsender: a\nrcpt: pending a@b\nend\n"
        let decoded = try Envelope.decode(Array(old.utf8), path: "t")
        #expect(decoded.configurationFile == nil && decoded.recipients.count == 1)
        #expect(String(decoding: decoded.encode(), as: UTF8.self).hasPrefix("version: 1\n"))
    }

    /// A value without `%` is taken as it is (no copy), yet a raw control
    /// byte or invalid UTF-8 in it is still refused, as in an escaped one.
    @Test func unescapedValuesStillChecked() throws {
        let plain = "version: 3\narrival: 5\nsender: a@b.example\nrcpt: pending c@d\nend\n"
        #expect(try Envelope.decode(Array(plain.utf8), path: "t").sender == "a@b.example")
        for bad: [UInt8] in [[0x61, 0x09, 0x62], [0x61, 0x7F], [0x61, 0xFF, 0x62], [0x61, 0x0D]] {
            let bytes = Array("version: 3\narrival: 5\nsender: ".utf8) + bad + Array("\nrcpt: pending c@d\nend\n".utf8)
            #expect(throws: EnvelopeFormatError.self) { try Envelope.decode(bytes, path: "t") }
        }
    }

    /// Reply codes and statuses are typed fields (version 3); a failed
    /// recipient of an older file gets them from its bare reply, once, when read.
    @Test func typedRepliesAndOldFilesMigrated() throws {
        var envelope = sampleEnvelope()
        envelope.recipients[0].replyCode = 451
        envelope.recipients[0].status = "4.7.1"
        #expect(String(decoding: envelope.encode(), as: UTF8.self).hasPrefix("version: 3\n"))
        #expect(try Envelope.decode(envelope.encode(), path: "t") == envelope)
        let old =
            "version: 1\narrival: 5\nsender: a\nrcpt: failed a@b reply=550%205.1.1%20no%20such%20user\n"
            + "rcpt: failed c@d reply=message%20expired\nrcpt: pending e@f reply=451%204.3.0%20later\nend\n"
        let decoded = try Envelope.decode(Array(old.utf8), path: "t")
        #expect(decoded.recipients[0].replyCode == 550 && decoded.recipients[0].status == "5.1.1")
        #expect(decoded.recipients[1].replyCode == nil && decoded.recipients[1].status == nil)
        #expect(decoded.recipients[2].replyCode == nil)
        for bad in ["code=55", "code=abc", "code=650", "status=5.1", "status=3.1.1", "status=5.1.1x"] {
            let text = "version: 3\narrival: 5\nsender: a\nrcpt: failed a@b \(bad)\nend\n"
            #expect(throws: EnvelopeFormatError.self) { try Envelope.decode(Array(text.utf8), path: "t") }
        }
        let future = "version: 4\narrival: 5\nsender: a\nrcpt: pending a@b\nend\n"
        #expect(throws: EnvelopeFormatError.self) { try Envelope.decode(Array(future.utf8), path: "t") }
    }

    @Test(arguments: hostile) func hostileValuesRoundTrip(_ value: String) throws {
        var envelope = sampleEnvelope(sender: value)
        envelope.lastError = value
        envelope.account = value
        envelope.dsnEnvelopeID = value
        envelope.recipients[0].lastReply = value
        envelope.recipients[0].notify = value
        envelope.recipients[0].originalRecipient = value
        envelope.recipients[1].address = value.isEmpty ? "x" : value
        envelope.extraFields = [EnvelopeExtraField(key: "x-k", value: value)]
        let bytes = envelope.encode()
        // No value can add a line: exactly the fixed lines, two recipients, one extra, end.
        #expect(bytes.filter { $0 == 0x0A }.count == 8 + 1 + 2 + 1 + 1)
        #expect(!bytes.contains(0x0D) && !bytes.contains(0))
        #expect(try Envelope.decode(bytes, path: "t") == envelope)
    }

    @Test func unknownKeysAreKept() throws {
        let text = "version: 1\narrival: 5\nsender: \nx-new: a%0Ab\nfuture-thing: y\nrcpt: pending a@b\nend\n"
        let envelope = try Envelope.decode(Array(text.utf8), path: "t")
        #expect(envelope.sender == "")
        #expect(envelope.nextAttempt == 5)
        #expect(envelope.extraFields == [.init(key: "x-new", value: "a\nb"), .init(key: "future-thing", value: "y")])
        #expect(try Envelope.decode(envelope.encode(), path: "t") == envelope)
    }

    static let malformed: [(String, String)] = [
        ("", "empty file"),
        ("version: 1\narrival: 5\nsender: a\nrcpt: pending a@b\n", "no end line"),
        ("version: 1\narrival: 5\nsender: a\nrcpt: pending a@b\nend", "no end line"),
        ("version: 1\narrival: 5\nsender: a\nrcpt: pending a@b\nend\nmore\n", "no end line"),
        ("arrival: 5\nversion: 1\nsender: a\nrcpt: pending a@b\nend\n", "line 1: first line is not version"),
        ("version: 4\narrival: 5\nsender: a\nrcpt: pending a@b\nend\n", "unsupported envelope version 4"),
        (
            "version: 2\narrival: 5\nsender: a\nconfig: relative.conf\nrcpt: pending a@b\nend\n",
            "config is not an absolute path"
        ),
        ("version: 1\narrival: x5\nsender: a\nrcpt: pending a@b\nend\n", "line 2: bad number"),
        ("version: 1\narrival: 5\narrival: 6\nsender: a\nrcpt: pending a@b\nend\n", "line 3: duplicate arrival"),
        ("version: 1\narrival: 5\nsender: a%4\nrcpt: pending a@b\nend\n", "bad value encoding"),
        ("version: 1\narrival: 5\nsender: a\rb\nrcpt: pending a@b\nend\n", "bad value encoding"),
        ("version: 1\narrival: 5\nsender: a\nrcpt: queued a@b\nend\n", "bad recipient state"),
        ("version: 1\narrival: 5\nsender: a\nrcpt: pending a@b bogus=1\nend\n", "bad rcpt parameter"),
        ("version: 1\narrival: 5\nsender: a\nend\n", "no recipients"),
        ("version: 1\nsender: a\nrcpt: pending a@b\nend\n", "no arrival line"),
        ("version: 1\narrival: 5\nSender: a\nrcpt: pending a@b\nend\n", "bad key"),
        ("version: 1\narrival: 5\nsender:a\nrcpt: pending a@b\nend\n", "no space after colon"),
        ("version: 1\narrival: 99999999999999999999\nsender: a\nrcpt: pending a@b\nend\n", "bad number"),
    ]

    @Test(arguments: malformed) func malformedIsRejectedNamingTheFile(_ text: String, _ reason: String) {
        #expect {
            try Envelope.decode(Array(text.utf8), path: "/q/X.env")
        } throws: { error in
            let description = String(describing: error)
            return description.hasPrefix("queue file /q/X.env: ") && description.contains(reason)
        }
    }

    @Test func arbitraryBytesNeverCrash() {
        var generator = SeededGenerator.fromEnvironment()
        let seed = Array(sampleEnvelope().encode())
        for _ in 0..<3000 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                switch Int.random(in: 0..<3, using: &generator) {
                case 0:
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(
                        in: 0...255, using: &generator)
                case 1:
                    bytes.insert(
                        UInt8.random(in: 0...255, using: &generator),
                        at: Int.random(in: 0...bytes.count, using: &generator))
                default: if bytes.count > 1 { bytes.remove(at: Int.random(in: 0..<bytes.count, using: &generator)) }
                }
            }
            if let envelope = try? Envelope.decode(bytes, path: "f") {
                #expect((try? Envelope.decode(envelope.encode(), path: "f")) == envelope, "\(generator.note)")
            }
        }
    }
}
