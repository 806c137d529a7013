import ApusQueue
import Testing

/// The writer never makes an envelope the reader refuses (Envelope.maximumFileSize).
@Suite struct EnvelopeSizeTests {
    func envelope(recipients: Int, reply: String) -> Envelope {
        Envelope(
            sender: "a@example.com",
            recipients: (0..<recipients).map {
                QueueRecipient(address: "user\($0)@example.com", lastReply: reply)
            },
            arrivalTime: 1_700_000_000)
    }

    /// 200,000 recipients answered with a long reply once made a 21 MB file the reader refused,
    /// so the message was stuck for good and `mailq` failed; the replies are now cut to fit.
    @Test func longRepliesAreCutToFit() throws {
        let long = "452 4.5.3 " + String(repeating: "Too many recipients ", count: 20)
        let big = envelope(recipients: 60_000, reply: long)
        let bytes = big.encode()
        #expect(bytes.count <= Envelope.maximumFileSize)
        let back = try Envelope.decode(bytes, path: "t")
        #expect(back.recipients.count == 60_000)
        #expect(back.recipients.map(\.address) == big.recipients.map(\.address))
        #expect(back.recipients[0].lastReply.hasPrefix("452 4.5.3 Too many"))
        #expect(back.recipients[0].lastReply.count < long.count)
        #expect(big.fitsInFile)
    }

    @Test func smallEnvelopesAreWrittenWhole() throws {
        let small = envelope(recipients: 3, reply: "250 2.0.0 Ok")
        #expect(try Envelope.decode(small.encode(), path: "t") == small)
    }

    @Test func aLongLastErrorIsCut() throws {
        var e = envelope(recipients: 1, reply: "")
        e.lastError = String(repeating: "é", count: 5000)
        let back = try Envelope.decode(e.encode(), path: "t")
        #expect(back.lastError.utf8.count <= Envelope.maximumErrorLength)
        #expect(back.lastError.allSatisfy { $0 == "é" })
    }

    /// Addresses alone past the maximum: `fitsInFile` says so (submission refuses
    /// before sending) and the store refuses to write it.
    @Test func tooManyRecipientsDoNotFit() throws {
        let huge = Envelope(
            sender: "a@example.com",
            recipients: (0..<200_000).map {
                QueueRecipient(address: "a-rather-long-recipient-name-\($0)@subdomain.example.com", notify: "FAILURE")
            },
            arrivalTime: 1_700_000_000)
        #expect(!huge.fitsInFile)
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let store = try dir.store()
        let writer = try store.beginMessage()
        try writer.write(Array("x\r\n".utf8))
        #expect(throws: (any Error).self) { _ = try writer.commit(huge) }
        writer.abort()
        #expect(dir.names().isEmpty)
    }
}
