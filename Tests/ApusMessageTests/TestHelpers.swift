import ApusMessage
import Foundation

/// Loads a fixture file's bytes from the test bundle.
func fixture(_ name: String) throws -> [UInt8] {
    guard let url = Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil) else {
        throw FixtureMissing(name: name)
    }
    return Array(try Data(contentsOf: url))
}

struct FixtureMissing: Error { let name: String }

/// What a whole read produced.
struct ReadResult: Equatable {
    var headers: Headers
    /// The body in wire form: every line ending in CRLF.
    var body: [UInt8]
    var events: Int
    var stats: MessageReader.Stats
}

/// How to feed the reader.
enum Feeding: CaseIterable {
    case whole, byteByByte, randomChunks
}

/// A small deterministic generator (SplitMix64) so failures reproduce.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Reads a message through `MessageReader`, feeding it as asked and pulling all
/// events after every chunk; checks the event order on the way.
func readMessage(_ input: [UInt8], _ feeding: Feeding = .whole, dotTerminates: Bool = true,
                 limits: MessageReader.Limits = .init(), seed: UInt64 = 1) throws -> ReadResult {
    var reader = MessageReader(dotTerminates: dotTerminates, limits: limits)
    var result = ReadResult(headers: Headers(), body: [], events: 0, stats: .init())
    var sawEndOfHeaders = false
    var sawEnd = false
    func drain() throws {
        while let e = try reader.next() {
            precondition(!sawEnd, "event after .end")
            result.events += 1
            switch e {
            case .header(let f):
                precondition(!sawEndOfHeaders)
                result.headers.append(f)
            case .endOfHeaders: sawEndOfHeaders = true
            case .bodyLine(let l):
                precondition(sawEndOfHeaders)
                result.body += l + [13, 10]
            case .bodyPart(let p):
                precondition(sawEndOfHeaders && p.count <= limits.maximumBodyPiece)
                result.body += p
            case .end: sawEnd = true
            }
        }
    }
    var rng = SeededRandom(seed: seed)
    var i = 0
    while i < input.count {
        let n: Int
        switch feeding {
        case .whole: n = input.count
        case .byteByByte: n = 1
        case .randomChunks: n = Int.random(in: 1...64, using: &rng)
        }
        let end = min(input.count, i + n)
        reader.append(input[i..<end])
        try drain()
        i = end
    }
    reader.finish()
    try drain()
    precondition(sawEnd, "no .end")
    result.stats = reader.stats
    return result
}

/// Reads every way and checks the results agree; returns the whole read.
func readAllWays(_ input: [UInt8], dotTerminates: Bool = true, limits: MessageReader.Limits = .init()) throws -> ReadResult {
    let whole = try readMessage(input, .whole, dotTerminates: dotTerminates, limits: limits)
    for feeding in [Feeding.byteByByte, .randomChunks] {
        var other = try readMessage(input, feeding, dotTerminates: dotTerminates, limits: limits, seed: UInt64(input.count))
        other.events = whole.events  // long lines may be cut into a different number of pieces
        if other != whole { throw Disagreement(feeding: feeding) }
    }
    return whole
}

struct Disagreement: Error { let feeding: Feeding }

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// `display|addr-spec` for compact expectations.
func describe(_ m: Mailbox) -> String { "\(m.displayName.map { $0.text } ?? "")|\(m.addrSpec.text)" }

extension Array {
    func chunks(of n: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: n).map { self[$0..<Swift.min($0 + n, count)] }
    }
}
