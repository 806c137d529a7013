import ApusMessage
import ApusTestSupport
import Testing

@Suite struct MessageReaderTests {
    @Test(arguments: [
        // input, dotTerminates, header names, body (wire form)
        ("Subject: a\n\nbody\n", true, ["Subject"], "body\r\n"),
        ("Subject: a\r\n\r\nbody\r\n", true, ["Subject"], "body\r\n"),
        ("Subject: a\n folded\nTo: x\n\nb\n", true, ["Subject", "To"], "b\r\n"),
        ("Subject: a\n\nline\n.\nafter\n", true, ["Subject"], "line\r\n"),
        ("Subject: a\n\nline\n.\nafter\n", false, ["Subject"], "line\r\n.\r\nafter\r\n"),
        ("Subject: a\n\nline\n..\n.x\n", true, ["Subject"], "line\r\n..\r\n.x\r\n"),
        ("Subject: a\n\nno final newline", true, ["Subject"], "no final newline\r\n"),
        ("Subject: a\n\nbare\rCR\n", true, ["Subject"], "bare\r\nCR\r\n"),
        // A lone CR ends a line like LF and CRLF (no smuggling through \r.\r).
        ("Subject: a\n\na\r.\r\nMAIL FROM:<x@y>\r\n", false, ["Subject"], "a\r\n.\r\nMAIL FROM:<x@y>\r\n"),
        ("Subject: a\n\na\r.\rafter\n", true, ["Subject"], "a\r\n"),
        ("Subject: a\rBcc: secret@x\r\rbody\r", true, ["Subject", "Bcc"], "body\r\n"),
        ("Subject: hi\rRCPT TO:<evil@x>\n\n", true, [], "Subject: hi\r\nRCPT TO:<evil@x>\r\n\r\n"),
        ("Subject: a\r\r\n\r\nx\n", true, ["Subject"], "\r\nx\r\n"),
        ("Subject: a\n\nends in CR\r", true, ["Subject"], "ends in CR\r\n"),
        // No empty line: all headers when every line looks like one…
        ("Subject: a\nTo: b\n", true, ["Subject", "To"], ""),
        ("Subject: a\nTo: b\n.\n", true, ["Subject", "To"], ""),
        // …otherwise all body.
        ("Subject: a\nhello world\n", true, [], "Subject: a\r\nhello world\r\n"),
        ("just text\n", true, [], "just text\r\n"),
        (" leading space\n", true, [], " leading space\r\n"),
        ("", true, [], ""),
        (".\n", true, [], ""),
        (".\n", false, [], ".\r\n"),
        ("\nbody only\n", true, [], "body only\r\n"),
        ("Obs-Space   : value\n\n", true, ["Obs-Space"], ""),
        (
            "From nobody Mon Jan  1 00:00:00 2024\nSubject: x\n\n", true, [],
            "From nobody Mon Jan  1 00:00:00 2024\r\nSubject: x\r\n\r\n"
        ),
    ])
    func splitsHeadersAndBody(input: String, dot: Bool, names: [String], body: String) throws {
        let r = try readAllWays(bytes(input), dotTerminates: dot)
        #expect(r.headers.map(\.nameString) == names)
        #expect(r.body.text == body)
        #expect(
            r.stats.headerBlockMissing
                == (names.isEmpty && !input.isEmpty && !input.hasPrefix("\n") && !(dot && input.hasPrefix(".\n"))))
    }

    @Test func keepsRawHeaderBytesAndUnfoldsOnRequest() throws {
        let r = try readAllWays(bytes("Subject: one\n\t two  \nX-Empty:\n\n"))
        let subject = try #require(r.headers.first(named: "subject"))
        #expect(subject.raw.text == "Subject: one\r\n\t two  \r\n")
        #expect(subject.value.text == "one\t two")
        #expect(subject.rawValue.count == " one\r\n\t two  ".utf8.count)
        #expect(subject.lineCount == 2)
        #expect(r.headers.first(named: "X-EMPTY")?.value == [])
        #expect(r.headers.bytes.text == "Subject: one\r\n\t two  \r\nX-Empty:\r\n")
    }

    @Test func whitespaceOnlyContinuationLineIsNotTheEndOfHeaders() throws {
        let r = try readAllWays(try fixture("rfc5322-A.6.3.eml"))
        #expect(r.headers.map(\.nameString) == ["From", "To", "Subject", "Date", "Message-ID"])
        #expect(r.headers.first(named: "To")?.value.text == "Mary Smith" + "  " + "          <mary@example.net>")
        #expect(r.body.text == "This is a message just to say hello.\r\nSo, \"Hello\".\r\n")
    }

    @Test func headerBlockLimitIsAClearError() throws {
        let limits = MessageReader.Limits(maximumHeaderOctets: 1000, maximumHeaderLines: 20)
        let many = String(repeating: "X-A: b\n", count: 21) + "\nbody\n"
        #expect(throws: MessageError.headerBlockTooLarge(limitOctets: 1000, limitLines: 20)) {
            _ = try readAllWays(bytes(many), limits: limits)
        }
        let huge = "X-Long: " + String(repeating: "a", count: 2000) + "\n\nbody\n"
        #expect(throws: MessageError.headerBlockTooLarge(limitOctets: 1000, limitLines: 20)) {
            _ = try readAllWays(bytes(huge), limits: limits)
        }
        // A header block that never ends, without any newline: still bounded.
        let endless = "X-Long: " + String(repeating: "a", count: 5000)
        #expect(throws: MessageError.headerBlockTooLarge(limitOctets: 1000, limitLines: 20)) {
            _ = try readAllWays(bytes(endless), limits: limits)
        }
        // Exactly at the limit is fine.
        let ok = try readAllWays(bytes(String(repeating: "X-A: b\n", count: 20) + "\n"), limits: limits)
        #expect(ok.headers.count == 20)
    }

    @Test func defaultLimitsAreOneMebibyteAndTenThousandLines() {
        let l = MessageReader.Limits()
        #expect(l.maximumHeaderOctets == 1 << 20 && l.maximumHeaderLines == 10_000)
    }

    @Test func longBodyLinesComeInBoundedPiecesAndAreReported() throws {
        let limits = MessageReader.Limits(maximumBodyPiece: 100)
        let long = String(repeating: "x", count: 999)
        let input = "Subject: a\n\nshort\n" + long + "\r\nend\n"
        var reader = MessageReader(limits: limits)
        var pieces: [Int] = []
        var lines: [Int] = []
        func drain() throws {
            while let e = try reader.next() {
                if case .bodyPart(let p) = e { pieces.append(p.count) }
                if case .bodyLine(let l) = e { lines.append(l.count) }
            }
        }
        for chunk in bytes(input).chunks(of: 50) {
            reader.append(chunk)
            try drain()
        }
        reader.finish()
        try drain()
        #expect(pieces.allSatisfy { $0 <= 100 } && !pieces.isEmpty)
        #expect(pieces.reduce(0, +) + lines[1] == 999)
        #expect(lines.count == 3)
        #expect(reader.stats.bodyHasLongLines)
        #expect(reader.stats.longestBodyLine == 999)
        #expect(reader.stats.bodyLines == 3)
        let r = try readAllWays(bytes(input), limits: limits)
        #expect(r.body.text == "short\r\n" + long + "\r\nend\r\n")
        #expect(r.stats.bodyOctets == r.body.count)
        let exact = try readAllWays(bytes("S: a\n\n" + String(repeating: "y", count: 998) + "\n"), limits: limits)
        #expect(!exact.stats.bodyHasLongLines)
    }

    @Test func aLongLineThatLooksLikeALoneDotAfterItsPiecesIsData() throws {
        let limits = MessageReader.Limits(maximumBodyPiece: 4)
        let r = try readMessage(bytes("S: a\n\nabcd.\nnext\n"), .byteByByte, limits: limits)
        #expect(r.body.text == "abcd.\r\nnext\r\n")
    }

    @Test func reportsEightBitAndNULInBodyAndHeaders() throws {
        let r = try readAllWays([UInt8]("Subject: caf".utf8) + [0xC3, 0xA9] + bytes("\n\nplain\n"))
        #expect(r.stats.headersHaveEightBit && !r.stats.bodyHasEightBit)
        let b = try readAllWays(bytes("Subject: a\n\n") + [0xFF, 0x00, 0x41, 0x0A])
        #expect(b.stats.bodyHasEightBit && b.stats.bodyHasNUL)
        #expect(b.body == [0xFF, 0x00, 0x41, 13, 10])
    }

    @Test func anyByteSequenceIsAccepted() throws {
        var rng = SeededGenerator.fromEnvironment()
        for _ in 0..<200 {
            let n = Int.random(in: 0...300, using: &rng)
            let alphabet: [UInt8] = [0x0A, 0x0D, 0x3A, 0x20, 0x2E, 0x41, 0x09, 0x80, 0xFF, 0x00]
            let input = (0..<n).map { _ in alphabet.randomElement(using: &rng) ?? 0 }
            let dot = Bool.random(using: &rng)
            // The cuts come from the same seed as the input: its note replays both.
            let r = try readAllWays(
                input, dotTerminates: dot, generator: SeededGenerator(seed: rng.next()), note: rng.note)
            // Headers plus body never hold more lines than the input's line ends (LF, CR) plus one.
            #expect(
                r.headers.reduce(0) { $0 + $1.lineCount } + r.stats.bodyLines
                    <= input.filter { $0 == 0x0A || $0 == 0x0D }.count + 1)
        }
    }

    @Test(arguments: [
        "debian-cron.eml", "mailx.eml", "git-send-email.eml", "php-mail.eml", "logwatch.eml",
        "rfc5322-A.1.1.eml", "rfc5322-A.1.2.eml", "rfc5322-A.1.3.eml", "rfc5322-A.2.eml", "rfc5322-A.3.eml",
        "rfc5322-A.4.eml", "rfc5322-A.5.eml", "rfc5322-A.6.1.eml", "rfc5322-A.6.2.eml", "rfc5322-A.6.3.eml",
    ])
    func fixturesReadTheSameWholeByteByByteAndInChunks(name: String) throws {
        let input = try fixture(name)
        for dot in [true, false] {
            let r = try readAllWays(input, dotTerminates: dot)
            #expect(!r.headers.isEmpty)
            #expect(!r.stats.headerBlockMissing)
            // Relaying what was read gives the input back, line endings aside (up to a lone dot).
            var wire = r.headers.bytes + [13, 10] + r.body
            wire.removeAll { $0 == 13 }
            var original = input.filter { $0 != 13 }
            if dot, let cut = original.firstRange(of: Array("\n.\n".utf8)) {
                original = Array(original[..<(cut.lowerBound + 1)])
            }
            #expect(wire.text == original.text)
        }
    }

    @Test func debianCronMessage() throws {
        let r = try readAllWays(try fixture("debian-cron.eml"), dotTerminates: false)  // cron runs sendmail -i
        #expect(r.headers.all(named: "x-cron-env").count == 4)
        #expect(r.headers.first(named: "Subject")?.valueString.hasPrefix("Cron <root@build01> test -x") == true)
        #expect(r.stats.bodyHasEightBit)
        #expect(r.body.text.contains("\r\n.\r\nrun-parts:"))
        #expect(r.transfer(serverHas8BITMIME: false, convertEightBit: true) == .quotedPrintable)
        #expect(r.transfer(serverHas8BITMIME: true, convertEightBit: true) == .asIs(needs8BITMIME: true))
    }

    @Test func mailxMessageStopsAtTheLoneDotWithoutDashI() throws {
        let input = try fixture("mailx.eml")
        let withDot = try readAllWays(input, dotTerminates: true)
        #expect(withDot.stats.endedByDot)
        #expect(!withDot.body.text.contains("after a lone dot"))
        let withI = try readAllWays(input, dotTerminates: false)
        #expect(!withI.stats.endedByDot)
        #expect(withI.body.text.hasSuffix(".\r\nthis line comes after a lone dot\r\n"))
    }

    @Test func gitSendEmailKeepsFoldingAndDots() throws {
        let r = try readAllWays(try fixture("git-send-email.eml"), dotTerminates: false)
        let subject = try #require(r.headers.first(named: "Subject"))
        #expect(
            subject.raw.text == "Subject: [PATCH v2 1/2] message: keep header folding as written when\r\n relaying\r\n")
        #expect(subject.valueString == "[PATCH v2 1/2] message: keep header folding as written when relaying")
        #expect(r.body.text.contains("\r\n-.\r\n+..\r\n+.\r\n-- \r\n"))
    }

    @Test func phpMailWithMixedLineEndings() throws {
        let r = try readAllWays(try fixture("php-mail.eml"))
        #expect(r.headers.map(\.nameString) == ["To", "Subject", "From", "Reply-To", "X-Mailer"])
        #expect(!r.headers.contains(named: "Date") && !r.headers.contains(named: "Message-ID"))
        #expect(r.headers.bytes.text.components(separatedBy: "\r\n").count == 6)
        #expect(r.body.text == "Thank you for your order.\r\nTotal: 42.00 EUR\r\n")
    }

    @Test func logwatchKeepsBlankishBodyLines() throws {
        let r = try readAllWays(try fixture("logwatch.eml"))
        #expect(r.headers.first(named: "Content-Type")?.valueString == "text/plain; charset=\"UTF-8\"")
        #expect(r.body.text.hasPrefix(" \r\n ####"))
        #expect(!r.stats.bodyHasEightBit && !r.stats.bodyHasLongLines)
    }
}

@Suite struct MessageReaderLinearityTests {
    /// A 1 MiB body line and a 900 KiB header line fed in 7-byte chunks finish quickly (the reader does not rescan).
    @Test func longLinesInSmallChunksStayLinear() throws {
        let body = bytes("S: a\n\n") + [UInt8](repeating: 0x61, count: 1 << 20) + [0x0A]
        let header = bytes("X-Long: ") + [UInt8](repeating: 0x62, count: 900_000) + bytes("\n\nb\n")
        let names = [UInt8](repeating: 0x63, count: 500_000) + bytes("\n")
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            for input in [body, header, names] {
                var reader = MessageReader()
                var seen = 0
                for chunk in input.chunks(of: 7) {
                    reader.append(chunk)
                    while let e = try reader.next() { if case .bodyPart(let p) = e { seen += p.count } }
                }
                reader.finish()
                while try reader.next() != nil {}
                #expect(seen > 0 || input == header)
            }
        }
        #expect(elapsed < .seconds(20))
    }
}

@Suite struct MessageReaderNULTests {
    /// A NUL anywhere is noted (the caller refuses the message), in headers and body alike.
    @Test(arguments: [
        "Subject: a\n\nbo\u{0}dy\n", "Subj\u{0}ect: a\n\nbody\n", "X-A: \u{0}\n\nbody\n",
        "X-A: b\n\u{0}", "Subject: a\n\nbody\n", "\u{0}",
    ])
    func notesNUL(input: String) throws {
        let r = try readAllWays(bytes(input), dotTerminates: false)
        #expect(r.stats.hasNUL == input.contains("\u{0}"))
    }
}
