import ApusTestSupport
import ApusTransport
import Foundation
import Testing

@Suite struct SMTPSinkTests {
    @Test func savesAMessageSentByHand() throws {
        let sink = try SMTPSink(hostname: "sink.test")
        defer { sink.stop() }
        let stream = try TCPStream.connect(to: sink.address, timeout: 5)
        defer { stream.close() }
        #expect(try readReply(stream).first?.hasPrefix("220 sink.test") == true)
        try stream.write(Array("EHLO client.test\r\n".utf8))
        let ehlo = try readReply(stream)
        #expect(ehlo.contains("250-PIPELINING"))
        #expect(!ehlo.contains { $0.contains("CHUNKING") })
        try stream.write(Array("MAIL FROM:<a@test.example>\r\nRCPT TO:<b@test.example>\r\nDATA\r\n".utf8))
        #expect(try readReply(stream).first?.hasPrefix("250") == true)
        #expect(try readReply(stream).first?.hasPrefix("250") == true)
        #expect(try readReply(stream).first?.hasPrefix("354") == true)
        try stream.write(Array("Subject: sink\r\n\r\nbody line\r\n..dot\r\n.\r\n".utf8))
        #expect(try readReply(stream).first?.hasPrefix("250") == true)
        try stream.write(Array("QUIT\r\n".utf8))
        _ = try readReply(stream)

        let saved = try sink.waitForMessages(1)
        let message = try #require(saved.first)
        #expect(message.mailArguments.contains("<a@test.example>"))
        #expect(message.recipientArguments.count == 1)
        #expect(message.recipientArguments.first?.contains("<b@test.example>") == true)
        #expect(message.heloArguments == "client.test")
        #expect(message.text.contains("Subject: sink\n"))
        #expect(message.text.contains("body line\n.dot"))
        let pid = sink.processIdentifier
        sink.stop()
        #expect(kill(pid, 0) != 0)
    }
}
