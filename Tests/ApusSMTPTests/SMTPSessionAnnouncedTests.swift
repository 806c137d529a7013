import ApusTransport
import Testing

@testable import ApusSMTP

/// A stream whose peer's bytes are all given up front (the server's replies,
/// in order) and that records each write the client makes: the session runs
/// on the test's thread, no peer thread, no sleep. Reading past the end is
/// the peer closing the connection.
final class CannedStream: ByteStream {
    var timeout: Double = 5
    private var input: ArraySlice<UInt8>
    /// Each `write` the client made, in order.
    private(set) var writes: [[UInt8]] = []
    private(set) var isClosed = false

    init(_ replies: String) { input = Array(replies.utf8)[...] }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n = min(buffer.count, input.count)
        for i in 0..<n { buffer[i] = input[input.startIndex + i] }
        input = input.dropFirst(n)
        return n
    }

    func write(_ buffer: UnsafeRawBufferPointer) throws { writes.append(Array(buffer)) }
    var tlsSession: TLSSessionInfo? { nil }
    var peerDescription: String { "canned" }
    var isLoopback: Bool { true }
    func close() { isClosed = true }

    /// The writes as text.
    var texts: [String] { writes.map { String(decoding: $0, as: UTF8.self) } }
}

/// ``SendOptions/next`` through the session: the next message's MAIL, RCPTs
/// and DATA in the same write as this message's final dot, replies matched
/// in order, failures of one message kept to that message.
@Suite struct SMTPSessionAnnouncedTests {
    static let greeting = "220 mx ready\r\n250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
    static let first = SMTPEnvelope(sender: "a@x", recipients: ["b@y"])
    static let second = SMTPEnvelope(sender: "n@x", recipients: ["c@y"])

    /// A session over `replies` (after the greeting and EHLO).
    static func session(_ replies: String, greeting: String = greeting) throws -> (SMTPSession, CannedStream) {
        let stream = CannedStream(greeting + replies)
        let session = try SMTPSession.connect(stream: stream)
        try session.ehlo("me")
        return (session, stream)
    }

    static func options(next: SMTPEnvelope?, resetFirst: Bool = false) -> SendOptions {
        var options = SendOptions()
        options.next = next
        options.resetFirst = resetFirst
        return options
    }

    @Test func twoMessagesTakeOneRoundTripEachAfterTheFirstEnvelope() throws {
        let (session, stream) = try Self.session(
            "250 ok\r\n250 ok\r\n354 go\r\n" + "250 queued 1\r\n" + "250 reset\r\n" + "250 ok\r\n250 ok\r\n354 go\r\n"
                + "250 queued 2\r\n")
        let one = try session.send(Self.first, message: .string("one\n"), options: Self.options(next: Self.second))
        #expect(one.dataReply.text() == "queued 1")
        // The announced transaction's RSET went behind the dot: resetFirst sends no other.
        let two = try session.send(
            Self.second, message: .string("two\n"), options: Self.options(next: nil, resetFirst: true))
        #expect(two.dataReply.text() == "queued 2")
        #expect(
            stream.texts == [
                "EHLO me\r\n", "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n",
                "one\r\n.\r\nRSET\r\nMAIL FROM:<n@x>\r\nRCPT TO:<c@y>\r\nDATA\r\n", "two\r\n.\r\n",
            ])
    }

    @Test(arguments: ["451 4.3.0 try again later", "554 5.6.0 content refused"])
    func aRefusedEndOfDataFailsThatMessageAndTheNextIsDelivered(verdict: String) throws {
        let (session, stream) = try Self.session(
            "250 ok\r\n250 ok\r\n354 go\r\n" + verdict + "\r\n" + "250 reset\r\n" + "250 ok\r\n250 ok\r\n354 go\r\n"
                + "250 queued 2\r\n")
        #expect {
            try session.send(Self.first, message: .string("one\n"), options: Self.options(next: Self.second))
        } throws: { error in
            let error = error as? SMTPError
            return error?.stage == .endOfData && error?.reply?.code == Int(verdict.prefix(3))
        }
        let two = try session.send(Self.second, message: .string("two\n"), options: Self.options(next: nil))
        #expect(two.dataReply.text() == "queued 2")
        #expect(stream.texts.last == "two\r\n.\r\n")
        #expect(stream.texts.joined().components(separatedBy: "RSET").count == 2, "one RSET, behind the dot")
    }

    @Test func theNextMessagesRefusedMailFailsItAfterTheFirstIsDelivered() throws {
        let (session, stream) = try Self.session(
            "250 ok\r\n250 ok\r\n354 go\r\n" + "250 queued 1\r\n" + "250 reset\r\n"
                + "550 5.7.1 sender refused\r\n503 5.5.1 no MAIL\r\n503 5.5.1 no MAIL\r\n" + "250 reset\r\n")
        let one = try session.send(Self.first, message: .string("one\n"), options: Self.options(next: Self.second))
        #expect(one.dataReply.text() == "queued 1")
        #expect {
            try session.send(Self.second, message: .string("two\n"), options: Self.options(next: nil))
        } throws: { error in
            let error = error as? SMTPError
            return error?.kind == .permanentReply && error?.stage == .mail && error?.reply?.code == 550
        }
        #expect(stream.texts.last == "RSET\r\n")
        #expect(!stream.texts.joined().contains("two"))
    }

    @Test func theNextMessagesRecipientsAllRefused() throws {
        let (session, _) = try Self.session(
            "250 ok\r\n250 ok\r\n354 go\r\n" + "250 queued 1\r\n" + "250 reset\r\n"
                + "250 ok\r\n550 5.1.1 unknown\r\n554 5.5.1 no valid recipients\r\n" + "250 reset\r\n")
        _ = try session.send(Self.first, message: .string("one\n"), options: Self.options(next: Self.second))
        #expect {
            try session.send(Self.second, message: .string("two\n"), options: Self.options(next: nil))
        } throws: { error in
            let error = error as? SMTPError
            return error?.kind == .recipientsRejected && error?.rejectedRecipients.map(\.recipient) == ["c@y"]
        }
    }

    @Test func theAnnouncementDeclaresTheNextEnvelopesSIZE() throws {
        let (session, stream) = try Self.session(
            "250 ok\r\n250 ok\r\n354 go\r\n250 queued 1\r\n250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued 2\r\n",
            greeting: "220 mx\r\n250-mx\r\n250-PIPELINING\r\n250 SIZE 100000\r\n")
        var second = Self.second
        second.parameters.size = 5
        _ = try session.send(Self.first, message: .string("one\n"), options: Self.options(next: second))
        let two = try session.send(second, message: .string("two\n"), options: Self.options(next: nil))
        #expect(two.dataReply.text() == "queued 2")
        #expect(stream.texts[2].hasSuffix(".\r\nRSET\r\nMAIL FROM:<n@x> SIZE=5\r\nRCPT TO:<c@y>\r\nDATA\r\n"))
        #expect(stream.texts.count == 4)
    }

    @Test func aRefusedRSETAheadOfTheNextMessageClosesTheSession() throws {
        // The replies to the pipelined MAIL, RCPT and DATA behind it are unread:
        // the connection cannot be trusted any more.
        let (session, stream) = try Self.session(
            "250 ok\r\n250 ok\r\n354 go\r\n250 queued 1\r\n502 5.5.1 no RSET here\r\n250 ok\r\n250 ok\r\n354 go\r\n")
        _ = try session.send(Self.first, message: .string("one\n"), options: Self.options(next: Self.second))
        #expect {
            try session.send(Self.second, message: .string("two\n"), options: Self.options(next: nil))
        } throws: { error in
            (error as? SMTPError)?.reply?.code == 502
        }
        #expect(session.isClosed && stream.isClosed)
        #expect(!stream.texts.joined().contains("two"))
    }

    @Test func aConnectionLostAfterTheDotDeliversNeitherMessage() throws {
        let (session, stream) = try Self.session("250 ok\r\n250 ok\r\n354 go\r\n")
        #expect {
            try session.send(Self.first, message: .string("one\n"), options: Self.options(next: Self.second))
        } throws: { error in
            let error = error as? SMTPError
            return error?.kind == .connection && error?.stage == .endOfData
        }
        #expect(stream.texts.last == "one\r\n.\r\nRSET\r\nMAIL FROM:<n@x>\r\nRCPT TO:<c@y>\r\nDATA\r\n")
        #expect(throws: SMTPError.self) {
            try session.send(Self.second, message: .string("two\n"), options: Self.options(next: nil))
        }
        #expect(!stream.texts.joined().contains("two"))
    }

    @Test func withoutPipeliningNothingIsAnnounced() throws {
        let (session, stream) = try Self.session(
            "250 ok\r\n250 ok\r\n354 go\r\n250 queued 1\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued 2\r\n",
            greeting: "220 mx\r\n250-mx\r\n250 8BITMIME\r\n")
        _ = try session.send(Self.first, message: .string("one\n"), options: Self.options(next: Self.second))
        _ = try session.send(Self.second, message: .string("two\n"), options: Self.options(next: nil))
        #expect(
            stream.texts == [
                "EHLO me\r\n", "MAIL FROM:<a@x>\r\n", "RCPT TO:<b@y>\r\n", "DATA\r\n", "one\r\n.\r\n",
                "MAIL FROM:<n@x>\r\n", "RCPT TO:<c@y>\r\n", "DATA\r\n", "two\r\n.\r\n",
            ])
    }

    @Test func anAnnouncedTransactionNotUsedIsSettledBeforeTheNextCommand() throws {
        // Its DATA refused: the session stays usable (RSET, then QUIT).
        let (session, stream) = try Self.session(
            "250 ok\r\n250 ok\r\n354 go\r\n250 queued 1\r\n250 reset\r\n"
                + "250 ok\r\n250 ok\r\n554 5.3.0 no\r\n250 reset\r\n221 bye\r\n")
        _ = try session.send(Self.first, message: .string("one\n"), options: Self.options(next: Self.second))
        session.quit()
        #expect(Array(stream.texts.suffix(2)) == ["RSET\r\n", "QUIT\r\n"])
        // Its DATA got 354: nothing may be delivered, so the connection is closed without the dot.
        let (other, otherStream) = try Self.session(
            "250 ok\r\n250 ok\r\n354 go\r\n250 queued 1\r\n250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n")
        _ = try other.send(Self.first, message: .string("one\n"), options: Self.options(next: Self.second))
        #expect(throws: SMTPError.self) {
            try other.send(Self.first, message: .string("three\n"), options: Self.options(next: nil))
        }
        #expect(other.isClosed && otherStream.isClosed)
        #expect(!otherStream.texts.joined().contains("three"))
    }

    @Test func noAnnouncementForANextMessageTooLargeForTheServer() throws {
        let (session, stream) = try Self.session(
            "250 ok\r\n250 ok\r\n354 go\r\n250 queued 1\r\n",
            greeting: "220 mx\r\n250-mx\r\n250-PIPELINING\r\n250 SIZE 1000\r\n")
        var tooLarge = Self.second
        tooLarge.parameters.size = 5000
        _ = try session.send(Self.first, message: .string("one\n"), options: Self.options(next: tooLarge))
        #expect(stream.texts.last == "one\r\n.\r\n")
    }
}
