import ApusTestSupport
import Foundation
import Testing

/// issue #12 item 7: an address is sent exactly as parsed, in RFC 5321 syntax, or refused.
@Suite struct AddressFidelityTests {
    @Test(arguments: [
        (["test@[a\\ b]"], "Subject: x\n\nx\n"),
        (["test@[a\\\tb]"], "Subject: x\n\nx\n"),
        (["test@[a b]"], "Subject: x\n\nx\n"),
        (["-f", "s@[a\\ b]", "r@y.example"], "Subject: x\n\nx\n"),
        (["-f", "s@[a\\\tb]", "r@y.example"], "Subject: x\n\nx\n"),
        (["-t"], "To: test@[a\\\tb]\nSubject: x\n\nx\n"),
        (["-t"], "To: test@[a\\ b]\nSubject: x\n\nx\n"),
        (["\"a\tb\"@y.example"], "Subject: x\n\nx\n"),
        (["r@y.example\n"], "Subject: x\n\nx\n"),
        (["r@y.example\r"], "Subject: x\n\nx\n"),
        (["-f", "s@src.example\n", "r@y.example"], "Subject: x\n\nx\n"),
        (["r@exa!mple.com"], "Subject: x\n\nx\n"),
        (["r@[300.1.1.1]"], "Subject: x\n\nx\n"),
    ])
    func addressesThatWouldChangeAreRefused(arguments: [String], input: String) throws {
        let (server, sandbox) = try scriptedSandbox()
        let result = try sandbox.run(arguments, input: input)
        #expect(result.status == 65, "\(result.summary)")
        #expect(result.stderrLines.count >= 1 && result.stderrLines[0].hasPrefix("apus: "), "\(result.summary)")
        #expect(server.connections.isEmpty)
        #expect(sandbox.queueFiles().isEmpty)
    }

    /// An unqualified quoted recipient is qualified as parsed, its local part still quoted.
    @Test(arguments: [
        ("\"a.(b)c\"", "<\"a.(b)c\"@test.example>"), ("\" root\"", "<\" root\"@test.example>"),
        ("\"x y\"@y.example", "<\"x y\"@y.example>"), ("plain", "<plain@test.example>"),
        ("r@[192.0.2.1]", "<r@[192.0.2.1]>"),
    ])
    func quotedLocalPartsAreSentAsParsed(argument: String, path: String) throws {
        let (server, sandbox) = try scriptedSandbox()
        let result = try sandbox.run([argument], input: "Subject: x\n\nx\n")
        #expect(result.status == 0, "\(result.summary)")
        #expect(server.commandLines.contains { $0.hasPrefix("RCPT TO:\(path)") }, "\(server.commandLines)")
    }

    /// The same rule for -f: a quoted local part is sent quoted.
    @Test func aQuotedSenderIsSentQuoted() throws {
        let (server, sandbox) = try scriptedSandbox()
        let result = try sandbox.run(["-f", "\"s t\"", "r@y.example"], input: "Subject: x\n\nx\n")
        #expect(result.status == 0, "\(result.summary)")
        #expect(
            server.commandLines.contains { $0.hasPrefix("MAIL FROM:<\"s t\"@test.example>") }, "\(server.commandLines)")
    }
}
