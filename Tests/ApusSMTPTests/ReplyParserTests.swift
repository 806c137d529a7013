import ApusTestSupport
import Testing

@testable import ApusSMTP

/// Parses `pieces` in order, as they would arrive from the network.
func parsePieces(_ pieces: [ArraySlice<UInt8>]) throws -> [SMTPReply] {
    var parser = ReplyParser()
    var pending: [UInt8] = []
    var replies: [SMTPReply] = []
    for piece in pieces {
        pending.append(contentsOf: piece)
        var slice = pending[...]
        while let reply = try parser.parse(&slice) { replies.append(reply) }
        pending = Array(slice)
    }
    if !pending.isEmpty || parser.isInsideReply { throw SMTPError.protocolViolation("incomplete") }
    return replies
}

struct ReplyParserTests {
    @Test func singleLineWithEnhancedCode() throws {
        let replies = try ReplyParser.parseAll(Array("250 2.1.0 Sender ok\r\n".utf8))
        #expect(replies.count == 1)
        #expect(replies[0].code == 250)
        #expect(replies[0].enhancedCode == EnhancedStatusCode(statusClass: 2, subject: 1, detail: 0))
        #expect(replies[0].lines == ["2.1.0 Sender ok"])
        #expect(replies[0].text() == "Sender ok")
    }

    @Test func multiLineReply() throws {
        let text = "250-mx.example Hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"
        let replies = try ReplyParser.parseAll(Array(text.utf8))
        #expect(replies.count == 1)
        #expect(replies[0].lines == ["mx.example Hello", "PIPELINING", "SIZE 1000"])
        #expect(replies[0].wireLines == ["250-mx.example Hello", "250-PIPELINING", "250 SIZE 1000"])
    }

    @Test func enhancedCodeMustMatchClass() throws {
        let replies = try ReplyParser.parseAll(Array("550 4.1.1 odd\r\n451 4.3.0 later\r\n250 2.0\r\n".utf8))
        #expect(replies[0].enhancedCode == nil)
        #expect(replies[0].text() == "4.1.1 odd")
        #expect(replies[1].enhancedCode?.description == "4.3.0")
        #expect(replies[2].enhancedCode == nil)
    }

    @Test func bareCodeAndLFLineEnds() throws {
        let replies = try ReplyParser.parseAll(Array("250\n354 go on\n".utf8))
        #expect(replies.map(\.code) == [250, 354])
        #expect(replies[0].lines == [""])
    }

    @Test(arguments: [
        "hello\r\n", "25\r\n", "250x\r\n", "199 too low\r\n", "600 too high\r\n", "2a0 x\r\n",
        "250-a\r\n251 b\r\n", "250 bad\u{1}text\r\n", "250 nul\u{0}\r\n", "\r\n",
    ])
    func malformedIsProtocolError(_ text: String) {
        #expect(throws: SMTPError.self) { try ReplyParser.parseAll(Array(text.utf8)) }
        do {
            _ = try ReplyParser.parseAll(Array(text.utf8))
        } catch let error as SMTPError {
            #expect(error.kind == .protocolViolation)
        } catch {
            Issue.record("wrong error \(error)")
        }
    }

    @Test func lineLengthLimit() throws {
        let ok = "250 " + String(repeating: "a", count: ReplyParser.maximumLineLength - 4) + "\r\n"
        #expect(try ReplyParser.parseAll(Array(ok.utf8)).count == 1)
        let long = "250 " + String(repeating: "a", count: ReplyParser.maximumLineLength - 3) + "\r\n"
        #expect(throws: SMTPError.self) { try ReplyParser.parseAll(Array(long.utf8)) }
        // Unbounded input without a line end fails early instead of growing.
        var parser = ReplyParser()
        var slice = Array(repeating: UInt8(ascii: "2"), count: 10_000)[...]
        #expect(throws: SMTPError.self) { try parser.parse(&slice) }
    }

    @Test func lineCountLimit() throws {
        let ok = String(repeating: "250-x\r\n", count: 99) + "250 end\r\n"
        #expect(try ReplyParser.parseAll(Array(ok.utf8))[0].lines.count == 100)
        let tooMany = String(repeating: "250-x\r\n", count: 100) + "250 end\r\n"
        #expect(throws: SMTPError.self) { try ReplyParser.parseAll(Array(tooMany.utf8)) }
    }

    @Test func incompleteReplyWaits() throws {
        var parser = ReplyParser()
        var slice = Array("250-first\r\n250 sec".utf8)[...]
        #expect(try parser.parse(&slice) == nil)
        #expect(parser.isInsideReply)
        #expect(Array(slice) == Array("250 sec".utf8))
    }

    static let corpus =
        "220 mx ESMTP ready\r\n250-mx\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n250 AUTH PLAIN LOGIN\r\n"
        + "250 2.1.0 Ok\r\n550 5.1.1 <x@y>: Recipient address rejected\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
        + "250 2.0.0 Ok: queued as 12345\r\n221 2.0.0 Bye\r\n334 \r\n334 VXNlcm5hbWU6\r\n"

    @Test func wholeBytewiseAndRandomChunksAgree() throws {
        let bytes = Array(Self.corpus.utf8)
        let whole = try feedEveryWay(bytes, randomChunkings: 50, maximumChunk: 40, parsePieces)
        #expect(whole == (try ReplyParser.parseAll(bytes)))
        #expect(whole.count == 9)
    }

    @Test func malformedInputFailsTheSameWhateverTheChunking() {
        let bad = Array("250-a\r\n250-b\r\n550 c\r\n".utf8)
        #expect(throws: SMTPError.self) { try ReplyParser.parseAll(bad) }
        #expect(throws: SMTPError.self) { try feedEveryWay(bad, parsePieces) }
    }
}
