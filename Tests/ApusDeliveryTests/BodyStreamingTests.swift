import ApusDelivery
import ApusMessage
import Foundation
import Testing

/// The intake streams the body from the input straight into the spool
/// (MessageReader.streamBody) instead of taking a `.bodyLine` array per line.
/// These compare it with the event path, which stays the reference: the same
/// spooled bytes, headers and stats for every kind of line end, lone dots,
/// NULs, 8-bit and long lines, whatever the input's chunking.
struct BodyStreamingTests {
    /// The message as the `.bodyLine`/`.bodyPart` events give it.
    func reference(_ input: [UInt8], dotTerminates: Bool, chunk: Int) throws -> (
        headers: [UInt8], body: [UInt8], stats: MessageReader.Stats
    ) {
        var reader = MessageReader(dotTerminates: dotTerminates)
        var headers = Headers()
        var body: [UInt8] = []
        var ended = false
        func drain() throws {
            while let event = try reader.next() {
                switch event {
                case .header(let field): headers.append(field)
                case .endOfHeaders: break
                case .bodyPart(let piece): body += piece
                case .bodyLine(let rest): body += rest + [13, 10]
                case .end: ended = true
                }
            }
        }
        var start = 0
        while start < input.count && !ended {
            let end = min(input.count, start + chunk)
            reader.append(input[start..<end])
            try drain()
            start = end
        }
        if !ended {
            reader.finish()
            try drain()
        }
        return (headers.bytes, body, reader.stats)
    }

    /// The message as the intake spools it, fed in chunks of `chunk` octets.
    func intake(_ input: [UInt8], dotTerminates: Bool, chunk: Int) throws -> (
        headers: [UInt8], body: [UInt8], stats: MessageReader.Stats?
    ) {
        let builder = MessageIntake.Builder(dotTerminates: dotTerminates, spoolDirectory: NSTemporaryDirectory())
        var start = 0
        while start < input.count && !builder.isEnded {
            let end = min(input.count, start + chunk)
            try builder.append(Array(input[start..<end]))
            start = end
        }
        do {
            let message = try builder.finish()
            var body: [UInt8] = []
            try message.body.forEachChunk { body += $0 }
            return (message.headers.bytes, body, message.stats)
        } catch MessageIntake.Failure.data(.nulByte) {
            return ([], [], nil)
        }
    }

    static let pieces: [[UInt8]] = [
        Array("a".utf8), Array("bc".utf8), Array(".".utf8), Array("\n".utf8), Array("\r".utf8), Array("\r\n".utf8),
        Array("\n.\n".utf8), Array("\r.\r".utf8), Array("\n.\r\n".utf8), Array("\n..\n".utf8), [0x80], [0xC3, 0xA9],
        Array(repeating: UInt8(ascii: "q"), count: 1500), Array(" x ".utf8), Array("\n.".utf8),
    ]

    static let openings: [String] = [
        "Subject: x\nFrom: a@x\n\n", "Subject: x\r\n\r\n", "Subject: x\r\n folded\r\n\r\n", "no header here\n",
        "Subject: x\n.\n", "", ".\n", "Subject: y\nnot a header\n",
    ]

    func message(seed: UInt64, opening: String, size: Int, nul: Bool) -> [UInt8] {
        var state = seed
        var out = Array(opening.utf8)
        while out.count < size {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            out += Self.pieces[Int(state >> 33) % Self.pieces.count]
        }
        if nul { out.insert(0, at: out.count / 2) }
        return out
    }

    @Test(arguments: [1, 2, 3, 7, 64, 1000, 65536])
    func intakeSpoolsWhatTheEventsGive(chunk: Int) throws {
        for (n, opening) in Self.openings.enumerated() {
            for dotTerminates in [false, true] {
                for nul in [false, true] {
                    let input = message(
                        seed: UInt64(n * 31 + chunk), opening: opening, size: chunk < 64 ? 3000 : 40000, nul: nul)
                    let expected = try reference(input, dotTerminates: dotTerminates, chunk: chunk)
                    let got = try intake(input, dotTerminates: dotTerminates, chunk: chunk)
                    if expected.stats.hasNUL {
                        #expect(got.stats == nil)
                        continue
                    }
                    #expect(got.headers == expected.headers)
                    #expect(got.body == expected.body)
                    #expect(got.stats == expected.stats)
                }
            }
        }
    }

    @Test func endingsAtTheEndOfInput() throws {
        for text in [
            "S: x\n\nbody", "S: x\n\nbody\r", "S: x\n\n.", "S: x\n\n.\r", "S: x\n\nline\n.", "S: x\n\n..", "S: x\n\n",
            "S: x\n\n\r", "S: x\n\n.\n after the dot", "S: x\n\nline\r.\rafter",
        ] {
            let input = Array(text.utf8)
            for chunk in [1, 2, 100] {
                for dotTerminates in [false, true] {
                    let expected = try reference(input, dotTerminates: dotTerminates, chunk: chunk)
                    let got = try intake(input, dotTerminates: dotTerminates, chunk: chunk)
                    #expect(got.body == expected.body, "\(text.debugDescription) in chunks of \(chunk)")
                    #expect(got.stats == expected.stats, "\(text.debugDescription) in chunks of \(chunk)")
                }
            }
        }
    }
}
