import ApusTestSupport
import Foundation
import Testing

/// What apus does to a message for a server that lacks 8BITMIME: SIZE of
/// the re-encoded form, MIME downgrade (delivery.md "SMTP").
@Suite struct CommandConversionTests {
    static let eightBitText = message(
        ["From: s@src.example", "Subject: eight", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
         "Content-Transfer-Encoding: 8bit"],
        body: String(repeating: "\u{e9}", count: 1500) + "\n")

    /// SIZE is declared for the re-encoded body and equals what is sent.
    @Test func sizeIsDeclaredForTheReEncodedBody() throws {
        let server = try scriptedServer { $0.extensions = ["PIPELINING", "SIZE 100000", "ENHANCEDSTATUSCODES"] }
        defer { server.stop() }
        let sandbox = try ApusSandbox(port: server.port)
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
        let server = try scriptedServer {
            $0.extensions = ["PIPELINING", "SIZE 5000", "ENHANCEDSTATUSCODES"] + (chunking ? ["CHUNKING"] : [])
        }
        defer { server.stop() }
        let sandbox = try ApusSandbox(port: server.port)
        #expect(Self.eightBitText.utf8.count < 5000)
        let result = try sandbox.run(["a@x.example"], input: Self.eightBitText)
        #expect(result.status == 65, "\(result.summary)")
        #expect(result.stderrLines.count == 1 && result.stderr.contains("5000"), "\(result.summary)")
        let verbs = server.connections.flatMap(\.verbs)
        #expect(!verbs.contains("DATA") && !verbs.contains("BDAT"), "\(verbs)")
        #expect(server.messages.isEmpty)
        #expect(sandbox.queueFiles().isEmpty)
    }
}
