import ApusTestSupport
import ApusTransport
import Foundation
import Testing

/// Reads one SMTP reply, its lines joined with CRLF.
func readSMTPReply(_ stream: any ByteStream) throws -> String {
    try readReply(stream).joined(separator: "\r\n")
}

/// Sends `line` + CRLF and returns the reply.
@discardableResult
func smtpCommand(_ stream: any ByteStream, _ line: String) throws -> String {
    try stream.write(Array((line + "\r\n").utf8))
    return try readSMTPReply(stream)
}

@Suite("PostfixServer runner", .serialized)
struct PostfixServerTests {
    @Test func startsOffersTLSAndAuthAndDelivers() throws {
        let postfix = try PostfixServer.start()
        defer { postfix.stop() }
        let tcp = try TCPStream.connect(host: postfix.host, port: postfix.submissionPort, timeout: 10)
        defer { tcp.close() }
        #expect(try readSMTPReply(tcp).hasPrefix("220 "))
        let ehlo = try smtpCommand(tcp, "EHLO client.example")
        #expect(ehlo.contains("STARTTLS"))
        #expect(
            ehlo.contains("AUTH PLAIN LOGIN CRAM-MD5") || ehlo.contains("AUTH LOGIN PLAIN CRAM-MD5")
                || ehlo.contains("AUTH"))
        #expect(try smtpCommand(tcp, "MAIL FROM:<sender@example.org>").hasPrefix("250"))
        #expect(try smtpCommand(tcp, "RCPT TO:<bob@example.com>").hasPrefix("250"))
        #expect(try smtpCommand(tcp, "DATA").hasPrefix("354"))
        #expect(try smtpCommand(tcp, "Subject: runner check\r\n\r\nhello\r\n.").hasPrefix("250"))
        try smtpCommand(tcp, "QUIT")
        let messages = try postfix.waitForMessages(count: 1)
        #expect(messages[0].header("Subject", contains: "runner check"))
        #expect(messages[0].header("Delivered-To", contains: "bob@example.com"))
        let pid = try #require(postfix.masterPID)
        postfix.stop()
        #expect(kill(pid, 0) != 0)
        #expect(postfix.masterPID == nil)
    }

    @Test func implicitTLSPortSpeaksTLS() throws {
        let postfix = try PostfixServer.start()
        defer { postfix.stop() }
        let tcp = try TCPStream.connect(host: postfix.host, port: postfix.implicitTLSPort, timeout: 10)
        var configuration = TLSConfiguration(serverName: "localhost")
        configuration.trustFile = postfix.certificates.caFile
        let tls = try TLSStream(wrapping: tcp, configuration: configuration)
        defer { tls.close() }
        #expect(tls.tlsSession?.verified == true)
        #expect(try readSMTPReply(tls).hasPrefix("220 "))
        #expect(try smtpCommand(tls, "EHLO client.example").contains("AUTH"))
        try smtpCommand(tls, "QUIT")
    }
}
