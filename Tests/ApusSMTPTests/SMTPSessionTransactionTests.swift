import ApusTransport
import Foundation
import Testing

@testable import ApusSMTP

/// Counts calls from the engine's hook.
final class Counter: @unchecked Sendable {
    var value = 0
}

struct SMTPSessionTransactionTests {
    static var message: MessageSource { .string("Subject: t\n\n.leading dot\nbody\n") }

    @Test func pipelinedEnvelopeAndDataInOneWrite() throws {
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: ["PIPELINING", "SIZE 100000", "8BITMIME"])
            try peer.expectLines("MAIL FROM:<a@x> SIZE=30 BODY=8BITMIME", "RCPT TO:<b@x>", "RCPT TO:<c@x>", "DATA")
            try peer.send("250 2.1.0 ok", "250 2.1.5 ok", "550 5.1.1 no such user", "354 go")
            peer.saved.append(try peer.receiveMessage("250 2.0.0 queued as X"))
        }) { stream -> (SMTPSendResult, Int) in
            let s = try greetedSession(stream)
            let before = stream.writeCount
            let envelope = SMTPEnvelope(
                sender: "a@x", recipients: ["b@x", "c@x"], parameters: MailParameters(body: .eightBitMIME))
            let r = try s.send(envelope, message: Self.message)
            return (r, stream.writeCount - before)
        }
        let (sent, writes) = try result.get()
        #expect(peer.finish() == nil)
        #expect(writes == 2)  // envelope+DATA, then message+dot
        #expect(sent.accepted.map(\.recipient) == ["b@x"])
        #expect(sent.refused.map(\.recipient) == ["c@x"])
        #expect(sent.dataReply.code == 250)
        #expect(peer.saved.first == Array("Subject: t\r\n\r\n..leading dot\r\nbody\r\n".utf8))
    }

    @Test func pipelinedAbortClosesWithoutDot() throws {
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: ["PIPELINING"])
            try peer.answerPipelined(4, ["250 ok", "250 ok", "550 no", "354 go"])
            peer.saved.append(peer.drainUntilClosed())
        }) { stream in
            let s = try greetedSession(stream)
            defer { #expect(s.isClosed) }
            return try s.send(
                SMTPEnvelope(sender: "a@x", recipients: ["b@x", "c@x"]), message: Self.message,
                options: SendOptions(policy: .abortIfAnyPermanent))
        }
        let error = smtpError(result)
        #expect(error?.kind == .recipientsRejected)
        #expect(error?.stage == .rcpt)
        #expect(error?.rejectedRecipients.map(\.recipient) == ["c@x"])
        #expect(error?.isTransient == false)
        #expect(peer.finish() == nil)
        #expect(peer.saved.first == [])  // not a byte after DATA, above all no "."
    }

    @Test func lockStepAbortSendsRSETInsteadOfDATA() throws {
        let (result, peer) = sendThroughPeer(to: ["b@x", "c@x"], options: SendOptions(policy: .abortIfAnyPermanent)) {
            peer in
            try greet(peer, extensions: [])
            try peer.answer([
                "MAIL FROM:<a@x>": "250 ok", "RCPT TO:<b@x>": "250 ok", "RCPT TO:<c@x>": "553 5.1.3 bad address",
                "RSET": "250 ok",
            ])
            _ = peer.drainUntilClosed()
        }
        #expect(smtpError(result)?.kind == .recipientsRejected)
        #expect(peer.finish() == nil)
        #expect(!peer.lines.contains("DATA"))
    }

    @Test func deferredRecipientIsNotAnAbortReason() throws {
        let (result, peer) = sendThroughPeer(to: ["b@x", "c@x"], options: SendOptions(policy: .abortIfAnyPermanent)) {
            peer in
            try greet(peer, extensions: [])
            try peer.answer([
                "MAIL": "250 ok", "RCPT TO:<b@x>": "450 4.2.0 try later", "RCPT TO:<c@x>": "250 ok", "DATA": "354 go",
            ])
            try peer.receiveMessage("250 ok")
        }
        let sent = try result.get()
        #expect(sent.deferred.map(\.recipient) == ["b@x"])
        #expect(sent.accepted.map(\.recipient) == ["c@x"])
        #expect(peer.finish() == nil)
    }

    @Test func noRecipientAcceptedThrowsWithEveryRefusal() throws {
        let (result, peer) = sendThroughPeer(to: ["b@x", "c@x"]) { peer in
            try greet(peer, extensions: ["PIPELINING"])
            try peer.answerPipelined(
                4, ["250 ok", "550 5.1.1 no b", "451 4.3.0 later c", "554 5.5.1 no valid recipients"])
            try peer.answer(["RSET": "250 ok"])
        }
        let error = smtpError(result)
        #expect(error?.kind == .recipientsRejected)
        #expect(error?.rejectedRecipients.map(\.reply.code) == [550, 451])
        #expect(error?.isTransient == false)
        #expect(peer.finish() == nil)
    }

    @Test func chunkingOneFlightWithLast() throws {
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: ["PIPELINING", "CHUNKING", "SIZE"])
            try peer.expectLines("MAIL FROM:<a@x> SIZE=30", "RCPT TO:<b@x>")
            let (line, chunk) = try peer.readBDAT()
            peer.saved.append(Array(line.utf8))
            peer.saved.append(chunk)
            try peer.send("250 ok", "250 ok", "250 2.0.0 queued")
        }) { stream -> (SMTPSendResult, Int, Int) in
            let s = try greetedSession(stream)
            let before = stream.writeCount
            let hook = Counter()
            let r = try s.send(
                SMTPEnvelope(sender: "a@x", recipients: ["b@x"]), message: Self.message,
                options: SendOptions(policy: .abortIfAnyPermanent, onMessageSent: { hook.value += 1 }))
            return (r, stream.writeCount - before, hook.value)
        }
        let (sent, writes, hooks) = try result.get()
        #expect(writes == 1)
        #expect(hooks == 1)
        #expect(sent.dataReply.lines == ["2.0.0 queued"])
        #expect(peer.finish() == nil)
        let expected = Array("Subject: t\r\n\r\n.leading dot\r\nbody\r\n".utf8)
        #expect(peer.saved == [Array("BDAT \(expected.count) LAST".utf8), expected])
    }

    @Test func chunkingLargeMessageWritesAllChunksBeforeReplies() throws {
        let body = String(repeating: "0123456789abcdef\n", count: 100)  // 1800 wire octets
        let (result, peer) = sendThroughPeer(to: ["b@x"], message: .string(body), options: SendOptions(chunkSize: 500))
        {
            peer in
            try greet(peer, extensions: ["PIPELINING", "CHUNKING"])
            try peer.expectLines("MAIL", "RCPT")
            var data: [UInt8] = []
            while true {
                let (line, chunk) = try peer.readBDAT()
                peer.saved.append(Array(line.utf8))
                data += chunk
                if line.hasSuffix("LAST") { break }
            }
            peer.saved.append(data)
            // Every chunk arrived before a single reply was sent.
            try peer.sendRaw(
                (["250 ok", "250 ok"] + Array(repeating: "250 chunk ok", count: 4)).map { $0 + "\r\n" }.joined())
        }
        _ = try result.get()
        #expect(peer.finish() == nil)
        #expect(
            peer.saved.prefix(4).map { String(decoding: $0, as: UTF8.self) } == [
                "BDAT 500", "BDAT 500", "BDAT 500", "BDAT 300 LAST",
            ])
        #expect(peer.saved.last == WireEncoder.encode(Array(body.utf8), dotStuffing: false))
    }

    @Test(arguments: [false, true])
    func chunkingAbortPolicyWithSeveralRecipients(refuseOne: Bool) throws {
        let (result, peer) = sendThroughPeer(to: ["b@x", "c@x"], options: SendOptions(policy: .abortIfAnyPermanent)) {
            peer in
            try greet(peer, extensions: ["PIPELINING", "CHUNKING"])
            try peer.expectLines("MAIL", "RCPT TO:<b@x>", "RCPT TO:<c@x>")
            let (line, _) = try peer.readBDAT()
            peer.saved.append(Array(line.utf8))
            try peer.send("250 ok", "250 ok", refuseOne ? "550 no" : "250 ok", "250 chunk ok")
            try peer.answer(refuseOne ? ["RSET": "250 reset"] : ["BDAT 0 LAST": "250 queued"])
        }
        #expect(peer.finish() == nil)
        #expect(peer.saved.first.map { String(decoding: $0, as: UTF8.self) } == "BDAT 34")
        if refuseOne {
            #expect(smtpError(result)?.kind == .recipientsRejected)
        } else {
            #expect(try result.get().dataReply.lines == ["queued"])
        }
    }

    @Test func tooLargeForServerSendsNothing() throws {
        let (result, peer) = sendThroughPeer(to: ["b@x"]) { peer in
            try greet(peer, extensions: ["PIPELINING", "SIZE 10"])
            _ = peer.drainUntilClosed()
        }
        #expect(smtpError(result)?.kind == .messageTooLarge)
        #expect(smtpError(result)?.stage == .mail)
        #expect(smtpError(result)?.isTransient == false)
        #expect(peer.lines == ["EHLO me"])
    }

    @Test func quitPipelinedAfterEndOfData() throws {
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: ["PIPELINING"])
            try peer.answerPipelined(3, ["250 ok", "250 ok", "354 go"])
            _ = try peer.readData()
            try peer.expect("QUIT")  // arrived with the dot, before any reply
            try peer.send("250 queued", "221 bye")
        }) { stream -> (Bool, Int) in
            let s = try greetedSession(stream)
            _ = try s.send(
                SMTPEnvelope(sender: "a@x", recipients: ["b@x"]), message: Self.message,
                options: SendOptions(quitAfter: true))
            return (s.isClosed, stream.writeCount)
        }
        let (closed, writes) = try result.get()
        #expect(closed)
        #expect(writes == 3)  // EHLO; envelope+DATA; message+dot+QUIT
        #expect(peer.finish() == nil)
    }

    @Test func sessionReuseAcrossTransactions() throws {
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: [])
            for n in 0..<2 {
                try peer.answer(["MAIL FROM:<a\(n)@x>": "250 ok", "RCPT": "250 ok", "DATA": "354 go"])
                try peer.receiveMessage("250 queued \(n)")
                try peer.answer(["RSET": "250 ok"])
            }
            try peer.answer(["QUIT": "221 bye"])
        }) { stream -> [String] in
            let s = try greetedSession(stream)
            var replies: [String] = []
            for n in 0..<2 {
                let r = try s.send(SMTPEnvelope(sender: "a\(n)@x", recipients: ["b@x"]), message: Self.message)
                replies.append(r.dataReply.text())
                try s.reset()
            }
            s.quit()
            return replies
        }
        #expect(try result.get() == ["queued 0", "queued 1"])
        #expect(peer.finish() == nil)
    }

    @Test func messageWriterStreamsIntoData() throws {
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: ["PIPELINING"])
            try peer.answerPipelined(3, ["250 ok", "250 ok", "354 go"])
            peer.saved.append(try peer.receiveMessage("250 queued"))
        }) { stream in
            let s = try greetedSession(stream)
            let writer = try s.openMessage(SMTPEnvelope(sender: "a@x", recipients: ["b@x"]))
            try writer.write("Subject: How are you?\r\n\r\nSo, how are you then?\n")
            try writer.write(Array(".\nno final newline".utf8))
            return try writer.close()
        }
        #expect(try result.get().dataReply.code == 250)
        #expect(peer.finish() == nil)
        #expect(
            peer.saved.first
                == Array("Subject: How are you?\r\n\r\nSo, how are you then?\r\n..\r\nno final newline\r\n".utf8))
    }

    @Test func forwardPathFollowedInLockStepTransaction() throws {
        let log = TraceLog()
        let (result, peer) = sendThroughPeer(
            to: ["old@x"], options: SendOptions(policy: .abortIfAnyPermanent), trace: log.trace
        ) { peer in
            try greet(peer, extensions: [])
            try peer.answer([
                "MAIL": "250 ok", "RCPT TO:<old@x>": "551 5.1.6 User not local; please try <new@y>",
                "RCPT TO:<new@y>": "250 ok", "DATA": "354 go",
            ])
            try peer.receiveMessage("250 queued")
        }
        let sent = try result.get()
        #expect(sent.recipients.first?.forwardedTo == "new@y")
        #expect(sent.accepted.count == 1)
        #expect(log.lines.contains { $0.hasPrefix("*: 551 for <old@x>") })
        // The trace names each state the transaction entered, in order.
        let states = log.lines.filter { $0.hasPrefix("*: transaction: ") }.map { $0.dropFirst(16) }
        #expect(states == ["mail", "rcpt", "forwarding", "data", "ready", "endOfData", "delivered"])
        #expect(peer.finish() == nil)
    }

    /// Pipelined to several recipients, DATA already got 354 when the 551
    /// arrives: the message goes to the accepted recipient, then to the
    /// forward path in a second transaction on the same connection.
    @Test func forwardPathFollowedAfterPipelinedData() throws {
        let log = TraceLog()
        let (result, peer) = withPeer({ peer in
            try greet(peer, extensions: ["PIPELINING"])
            try peer.expectLines("MAIL FROM:<a@x>", "RCPT TO:<b@x>", "RCPT TO:<old@x>", "DATA")
            try peer.send("250 ok", "250 ok", "551 5.1.6 User not local; please try <new@y>", "354 go")
            peer.saved.append(try peer.receiveMessage("250 queued as 1"))
            try peer.expectLines("MAIL FROM:<a@x>", "RCPT TO:<new@y>", "DATA")
            try peer.send("250 ok", "250 ok", "354 go")
            peer.saved.append(try peer.receiveMessage("250 queued as 2"))
            try peer.answer(["QUIT": "221 bye"])
        }) { stream in
            let s = try greetedSession(stream, trace: log.trace)
            let sent = try s.send(SMTPEnvelope(sender: "a@x", recipients: ["b@x", "old@x"]), message: Self.message)
            s.quit()
            return sent
        }
        let sent = try result.get()
        #expect(peer.finish() == nil)
        #expect(sent.accepted.map(\.recipient) == ["b@x", "old@x"])
        #expect(sent.recipients.last?.forwardedTo == "new@y")
        #expect(sent.recipients.last?.finalReply.description == "250 queued as 2")
        #expect(peer.saved.count == 2 && peer.saved[0] == peer.saved[1], "the same message twice")
        #expect(log.lines.contains { $0.contains("second transaction") }, "\(log.lines)")
    }

    /// With quitAfter the QUIT waits for the follow-up; a forward path that
    /// is refused too is reported, and the first delivery stands.
    @Test func refusedForwardPathIsReported() throws {
        var options = SendOptions()
        options.quitAfter = true
        let (result, peer) = sendThroughPeer(to: ["b@x", "old@x"], options: options) { peer in
            try greet(peer, extensions: ["PIPELINING"])
            try peer.expectLines("MAIL FROM:<a@x>", "RCPT TO:<b@x>", "RCPT TO:<old@x>", "DATA")
            try peer.send("250 ok", "250 ok", "551 User not local; please try <new@y>", "354 go")
            try peer.receiveMessage("250 queued")
            try peer.expectLines("MAIL FROM:<a@x>", "RCPT TO:<new@y>", "DATA")
            try peer.send("250 ok", "550 5.1.1 no such user", "554 no valid recipients")
            try peer.answer(["RSET": "250 ok"])
            try peer.expect("QUIT")
        }
        let sent = try result.get()
        #expect(peer.finish() == nil)
        #expect(sent.accepted.map(\.recipient) == ["b@x"])
        #expect(sent.refused.first?.finalReply.code == 550)
        #expect(sent.refused.first?.forwardedTo == "new@y")
    }

    @Test func dataRefusedAfterMessage() throws {
        let (result, _) = sendThroughPeer(to: ["b@x"]) { peer in
            try greet(peer, extensions: ["PIPELINING"])
            try peer.answerPipelined(3, ["250 ok", "250 ok", "354 go"])
            try peer.receiveMessage("554 5.7.1 spam")
        }
        #expect(smtpError(result)?.kind == .permanentReply)
        #expect(smtpError(result)?.command == "end of data")
        #expect(smtpError(result)?.stage == .endOfData)
        #expect(smtpError(result)?.reply?.enhancedCode?.description == "5.7.1")
    }
}
