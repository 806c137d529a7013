import ApusTestSupport
import Testing

@testable import ApusSMTP

struct WireEncoderTests {
    @Test(arguments: [
        ("a\nb\n", "a\r\nb\r\n", "a\r\nb\r\n"),
        ("a\r\nb\r\n", "a\r\nb\r\n", "a\r\nb\r\n"),
        ("no end", "no end\r\n", "no end\r\n"),
        ("bare\rcr\n", "bare\r\ncr\r\n", "bare\r\ncr\r\n"),
        ("ends with cr\r", "ends with cr\r\n", "ends with cr\r\n"),
        (".\n..x\n.", "..\r\n...x\r\n..\r\n", ".\r\n..x\r\n.\r\n"),
        ("a\n.b\r\n.\r\n", "a\r\n..b\r\n..\r\n", "a\r\n.b\r\n.\r\n"),
        ("\r.x\n", "\r\n..x\r\n", "\r\n.x\r\n"),
        // SMTP smuggling: a lone CR or LF ends the line before dot-stuffing.
        ("a\r.\r\nMAIL FROM:<x@y>\r\n", "a\r\n..\r\nMAIL FROM:<x@y>\r\n", "a\r\n.\r\nMAIL FROM:<x@y>\r\n"),
        ("a\n.\r\nRSET\n", "a\r\n..\r\nRSET\r\n", "a\r\n.\r\nRSET\r\n"),
        ("a\r\n.\rRSET\r", "a\r\n..\r\nRSET\r\n", "a\r\n.\r\nRSET\r\n"),
        ("\r\r\n\n\r", "\r\n\r\n\r\n\r\n", "\r\n\r\n\r\n\r\n"),
        ("", "", ""),
        ("\n\n", "\r\n\r\n", "\r\n\r\n"),
    ])
    func encodes(input: String, stuffed: String, plain: String) {
        #expect(WireEncoder.encode(Array(input.utf8), dotStuffing: true) == Array(stuffed.utf8))
        #expect(WireEncoder.encode(Array(input.utf8), dotStuffing: false) == Array(plain.utf8))
    }

    /// Whatever the input, the output holds no CR without LF and no LF without CR.
    @Test func neverABareCROrLF() {
        var generator = SeededGenerator.fromEnvironment()
        let alphabet: [UInt8] = [13, 10, 46, 120]
        for _ in 0..<300 {
            let input = (0..<Int.random(in: 0...64, using: &generator)).map { _ in
                alphabet.randomElement(using: &generator) ?? 120
            }
            let out = WireEncoder.encode(input, dotStuffing: true)
            for (i, byte) in out.enumerated() {
                if byte == 13 { #expect(i + 1 < out.count && out[i + 1] == 10, "\(input), \(generator.note)") }
                if byte == 10 { #expect(i > 0 && out[i - 1] == 13, "\(input), \(generator.note)") }
            }
        }
    }

    @Test func splitAnywhereGivesTheSameOutput() throws {
        let input = Array("line one\r\n.dot\n\r\nbare\rx\r\n..\n\rend\r".utf8)
        let whole = try feedEveryWay(input) { pieces in
            var encoder = WireEncoder(dotStuffing: true)
            var out: [UInt8] = []
            for piece in pieces { encoder.encode(piece, into: &out) }
            encoder.finish(into: &out)
            return out
        }
        #expect(whole == WireEncoder.encode(input, dotStuffing: true))
    }

    /// Contiguous input takes the run-copying fast path; a lazy sequence goes
    /// byte by byte. Random bytes rich in CR, LF and dots, cut at random
    /// points, must encode the same both ways.
    @Test(arguments: [false, true])
    func fastPathMatchesByteByByte(dotStuffing: Bool) {
        var generator = SeededGenerator.fromEnvironment()
        let alphabet: [UInt8] = [13, 10, 46, 46, 120, 121, 32, 0, 200]
        for _ in 0..<200 {
            let input = (0..<Int.random(in: 0...300, using: &generator)).map { _ in
                alphabet.randomElement(using: &generator) ?? 120
            }
            var fast = WireEncoder(dotStuffing: dotStuffing)
            var slow = WireEncoder(dotStuffing: dotStuffing)
            var fastOut: [UInt8] = []
            var slowOut: [UInt8] = []
            var start = 0
            while start < input.count {
                let end = min(input.count, start + Int.random(in: 1...64, using: &generator))
                fast.encode(input[start..<end], into: &fastOut)
                slow.encode(input[start..<end].lazy.map { $0 }, into: &slowOut)
                start = end
            }
            fast.finish(into: &fastOut)
            slow.finish(into: &slowOut)
            #expect(fastOut == slowOut, "input \(input), \(generator.note)")
        }
    }
}
