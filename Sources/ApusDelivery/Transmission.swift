import ApusConfig
import ApusMessage
import ApusSMTP

/// A message ready to go: header fields (already changed as delivery.md
/// says) and the body with CRLF line ends, plus what the reader noticed.
/// Both `-bm` and queue runs send through ``Transmission``.
package struct OutgoingMessage {
    /// The header fields to send.
    package var headers: Headers
    /// The body.
    package var body: Spool
    /// What the reader saw (8-bit, long lines).
    package var stats: MessageReader.Stats

    /// Creates a message.
    package init(headers: Headers, body: Spool, stats: MessageReader.Stats) {
        self.headers = headers
        self.body = body
        self.stats = stats
    }

    /// The stored form: header block, empty line, body.
    package func forEachStoredChunk(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try (headers.bytes + [13, 10]).withUnsafeBytes { try body($0) }
        try self.body.forEachChunk(body)
    }

    /// The size of the stored form in octets.
    package var storedSize: Int { headers.bytes.count + 2 + body.count }
}

/// Sends an ``OutgoingMessage`` over a relay session: decides the body
/// transfer for this server (BODY=8BITMIME, quoted-printable re-encoding with
/// `eight_bit convert`, refusal of over-long lines in non-text), requires
/// SMTPUTF8 for non-ASCII addresses, declares SIZE, and runs the transaction.
package enum Transmission {
    /// Why a message cannot be sent to this server as it is (exit 65).
    package struct Unsendable: Error, CustomStringConvertible {
        /// One line.
        package var message: String
        /// The RFC 3463 status for the log (`5.6.7` for SMTPUTF8, `5.6.3` for content).
        package var dsn = "5.6.3"
        package var description: String { message }
    }

    /// Runs the transaction. Throws ``Unsendable`` (data error) or the
    /// engine's `SMTPError`.
    package static func send(
        _ message: OutgoingMessage, sender: String, recipients: [SMTPRecipient], dsnReturn: MailParameters.DSNReturn?,
        envelopeID: String?, bodyType: String?, eightBit: EightBitPolicy, over relay: RelaySession,
        policy: RejectionPolicy, quitAfter: Bool, resetFirst: Bool = false
    ) throws -> SMTPSendResult {
        let prepared = try prepare(
            message, sender: sender, recipients: recipients, dsnReturn: dsnReturn, envelopeID: envelopeID,
            bodyType: bodyType, eightBit: eightBit, for: relay)
        return try send(prepared, over: relay, policy: policy, quitAfter: quitAfter, resetFirst: resetFirst)
    }

    /// A message made ready for one relay session's extensions: the SMTP
    /// envelope (parameters and SIZE decided) and the bytes to send, which
    /// can be read once.
    package struct Prepared {
        /// MAIL's and RCPT's arguments.
        package var envelope: SMTPEnvelope
        /// The message as it goes (re-encoded when the relay needs it).
        package var source: MessageSource
        /// The session it was made for (held: an identity that cannot be reused).
        package let session: SMTPSession
    }

    /// Runs a prepared transaction over the session it was made for. `next`:
    /// the envelope of the message sent next on this connection, announced
    /// behind this one's end of data (``SendOptions/next``); `onMessageSent`
    /// as ``SendOptions/onMessageSent``.
    package static func send(
        _ prepared: Prepared, over relay: RelaySession, policy: RejectionPolicy, quitAfter: Bool,
        resetFirst: Bool = false, next: SMTPEnvelope? = nil, onMessageSent: (() -> Void)? = nil
    ) throws -> SMTPSendResult {
        precondition(prepared.session === relay.session, "prepared for another session")
        var options = SendOptions()
        options.policy = policy
        options.quitAfter = quitAfter
        options.resetFirst = resetFirst
        options.next = next
        options.onMessageSent = onMessageSent
        return try relay.session.send(prepared.envelope, message: prepared.source, options: options)
    }

    /// Decides how `message` goes to this relay session (see the type's
    /// description). Throws ``Unsendable``, or a read error of the spool.
    package static func prepare(
        _ message: OutgoingMessage, sender: String, recipients: [SMTPRecipient], dsnReturn: MailParameters.DSNReturn?,
        envelopeID: String?, bodyType: String?, eightBit: EightBitPolicy, for relay: RelaySession
    ) throws -> Prepared {
        let extensions = relay.session.extensions
        let needsUTF8 = ([sender] + recipients.map(\.address)).contains { $0.utf8.contains { $0 >= 0x80 } }
        if needsUTF8 && !extensions.smtpUTF8 {
            throw Unsendable(
                message:
                    "an address is not ASCII and \(relay.relay) does not offer SMTPUTF8; use an ASCII address or a relay that supports SMTPUTF8",
                dsn: "5.6.7")
        }
        let declared8Bit = bodyType?.uppercased() == "8BITMIME"
        let transfer = BodyTransfer.decide(
            headers: message.headers, stats: message.stats, serverHas8BITMIME: extensions.eightBitMIME,
            convertEightBit: eightBit == .convert)
        var parameters = MailParameters()
        // SMTPUTF8 also when only the headers hold UTF-8 and the server offers it.
        parameters.smtpUTF8 = needsUTF8 || (message.stats.headersHaveEightBit && extensions.smtpUTF8)
        parameters.dsnReturn = dsnReturn
        parameters.envelopeID = envelopeID
        let source: MessageSource
        switch transfer {
        case .refuse(let error):
            throw Unsendable(message: error.description)
        case .asIs(let needs8BITMIME):
            if (needs8BITMIME || declared8Bit) && extensions.eightBitMIME { parameters.body = .eightBitMIME }
            if bodyType?.uppercased() == "7BIT" && !message.stats.bodyHasEightBit { parameters.body = .sevenBit }
            parameters.size = message.storedSize
            source = headerSource(message.headers, size: message.storedSize) + bodySource(message.body)
        case .downgrade:
            // Pass 1 finds the 8-bit parts; pass 2 measures the converted
            // form for SIZE; pass 3 sends it. Each streams the spool a line
            // at a time (lines are at most 998 octets here).
            var scan = MIMEDowngrade(headers: message.headers)
            try forEachLine(message.body) { line in
                var ignored: [UInt8] = []
                scan.feed(line: line, into: &ignored)
            }
            var ignored: [UInt8] = []
            let analysis = scan.finish(into: &ignored)
            let headers = MIMEDowngrade(headers: message.headers, analysis: analysis).headers
            let bodySize = try measure(downgradeChunks(message, analysis: analysis))
            let size = headers.bytes.count + 2 + bodySize
            parameters.size = size
            source =
                headerSource(headers, size: size)
                + .chunks(size: bodySize, downgradeChunks(message, analysis: analysis))
        case .quotedPrintable:
            var validUTF8: Bool? = nil
            if message.stats.bodyHasEightBit {
                var validation = UTF8Validation()
                try message.body.forEachChunk { validation.feed($0) }
                validUTF8 = validation.isComplete
            }
            let headers = BodyTransfer.convertingHeadersToQuotedPrintable(message.headers, eightBitValidUTF8: validUTF8)
            // SIZE is the size actually sent: the encoded body is measured
            // first, in one streaming pass over the spool.
            let bodySize = try measure(quotedPrintableChunks(message.body))
            let size = headers.bytes.count + 2 + bodySize
            parameters.size = size
            source = headerSource(headers, size: size) + .chunks(size: bodySize, quotedPrintableChunks(message.body))
        }
        let envelope = SMTPEnvelope(sender: sender, recipients: recipients, parameters: parameters)
        return Prepared(envelope: envelope, source: source, session: relay.session)
    }

    static func headerSource(_ headers: Headers, size: Int?) -> MessageSource {
        let bytes = headers.bytes + [13, 10]
        var done = false
        return .chunks(size: size) {
            if done { return nil }
            done = true
            return bytes
        }
    }

    /// The body spool as a source, lent in place (``SpoolLender``).
    static func bodySource(_ spool: Spool) -> MessageSource {
        .lending(SpoolLender(spool))
    }

    /// Calls `body` with each line of the spool, without its line ending
    /// (LF or CRLF). Lines longer than 1 MiB (refused before this is used)
    /// are handed over in pieces rather than held.
    static func forEachLine(_ spool: Spool, _ body: (ArraySlice<UInt8>) -> Void) throws {
        var carry: [UInt8] = []
        try spool.forEachChunk { chunk in
            var start = 0
            for i in 0..<chunk.count where chunk[i] == 10 {
                carry += chunk[start..<i]
                if carry.last == 13 { carry.removeLast() }
                body(carry[...])
                carry.removeAll(keepingCapacity: true)
                start = i + 1
            }
            carry += chunk[start...]
            if carry.count > 1 << 20 {
                body(carry[...])
                carry.removeAll(keepingCapacity: true)
            }
        }
        if !carry.isEmpty {
            if carry.last == 13 { carry.removeLast() }
            body(carry[...])
        }
    }

    /// The body converted by ``MIMEDowngrade`` (second pass), in chunks of
    /// about 64 KiB.
    static func downgradeChunks(_ message: OutgoingMessage, analysis: MIMEDowngrade.Analysis) -> () throws -> [UInt8]? {
        var downgrade = MIMEDowngrade(headers: message.headers, analysis: analysis)
        var offset = 0
        var carry: [UInt8] = []
        var finished = false
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let spool = message.body
        return {
            if finished { return nil }
            var out: [UInt8] = []
            while out.count < 1 << 16 && !finished {
                let n = try chunk.withUnsafeMutableBytes { try spool.read(from: offset, into: $0) }
                if n == 0 {
                    if !carry.isEmpty {
                        if carry.last == 13 { carry.removeLast() }
                        downgrade.feed(line: carry, into: &out)
                    }
                    downgrade.finish(into: &out)
                    finished = true
                    break
                }
                offset += n
                var start = 0
                for i in 0..<n where chunk[i] == 10 {
                    carry += chunk[start..<i]
                    if carry.last == 13 { carry.removeLast() }
                    downgrade.feed(line: carry, into: &out)
                    carry.removeAll(keepingCapacity: true)
                    start = i + 1
                }
                carry += chunk[start..<n]
                if carry.count > 1 << 20 {
                    downgrade.feed(line: carry, into: &out)
                    carry.removeAll(keepingCapacity: true)
                }
            }
            return out.isEmpty && finished ? nil : out
        }
    }

    /// The number of octets `next` produces (a dry run of a re-encoding, for SIZE).
    static func measure(_ next: () throws -> [UInt8]?) throws -> Int {
        var total = 0
        while let chunk = try next() { total += chunk.count }
        return total
    }

    /// The body re-encoded as quoted-printable, streamed: line pieces go
    /// through the encoder as they come, so a long line never sits in memory.
    /// Only a CR at a chunk's end is held back, to see whether an LF follows.
    static func quotedPrintableChunks(_ spool: Spool) -> () throws -> [UInt8]? {
        var offset = 0
        var encoder = QuotedPrintableEncoder()
        var heldCR = false
        var lineOpen = false
        var finished = false
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        return {
            if finished { return nil }
            var out: [UInt8] = []
            while out.count < 1 << 16 {
                let n = try chunk.withUnsafeMutableBytes { try spool.read(from: offset, into: $0) }
                if n == 0 {
                    if heldCR { encoder.encode(part: [13], into: &out) }
                    if lineOpen || heldCR { encoder.endLine(into: &out) }
                    finished = true
                    break
                }
                offset += n
                if heldCR && chunk[0] != 10 {
                    encoder.encode(part: [13], into: &out)
                }
                heldCR = false
                var start = 0
                for i in 0..<n where chunk[i] == 10 {
                    var end = i
                    if end > start && chunk[end - 1] == 13 { end -= 1 }
                    encoder.encode(part: chunk[start..<end], into: &out)
                    encoder.endLine(into: &out)
                    lineOpen = false
                    start = i + 1
                }
                if start < n {
                    var end = n
                    if chunk[n - 1] == 13 {
                        heldCR = true
                        end -= 1
                    }
                    encoder.encode(part: chunk[start..<end], into: &out)
                    lineOpen = true
                }
            }
            return out.isEmpty && finished ? nil : out
        }
    }
}
