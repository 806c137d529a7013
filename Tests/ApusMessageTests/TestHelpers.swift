import ApusMessage
import ApusTestSupport
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

/// Reads a message through `MessageReader`, feeding it as asked and pulling all
/// events after every piece; checks the event order on the way.
func readMessage(
    _ input: [UInt8], _ feeding: Feeding = .whole, dotTerminates: Bool = true,
    limits: MessageReader.Limits = .init()
) throws -> ReadResult {
    try readPieces(feeding.pieces(of: input), dotTerminates: dotTerminates, limits: limits)
}

/// Reads a message from `pieces`, in order, pulling all events after every piece.
func readPieces(
    _ pieces: [ArraySlice<UInt8>], dotTerminates: Bool = true,
    limits: MessageReader.Limits = .init()
) throws -> ReadResult {
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
    for piece in pieces where !piece.isEmpty {
        reader.append(piece)
        try drain()
    }
    reader.finish()
    try drain()
    precondition(sawEnd, "no .end")
    result.stats = reader.stats
    return result
}

/// Reads whole, byte by byte, split anywhere and in random chunks (``feedEveryWay``),
/// checks the results agree (but for how long lines were cut into events); returns the whole read.
func readAllWays(
    _ input: [UInt8], dotTerminates: Bool = true, limits: MessageReader.Limits = .init(),
    generator: SeededGenerator = .fromEnvironment(), note: String? = nil
) throws -> ReadResult {
    do {
        return try feedEveryWay(
            input, generator: generator,
            agree: { whole, other in
                var other = other
                other.events = whole.events  // long lines may be cut into a different number of pieces
                return other == whole
            }
        ) { try readPieces($0, dotTerminates: dotTerminates, limits: limits) }
    } catch let disagreement as FeedingDisagreement {
        guard let note else { throw disagreement }
        throw FeedingDisagreement(description: "\(disagreement) [input from \(note)]")
    }
}

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

extension ReadResult {
    /// How the body would be sent: ``BodyTransfer/decide(headers:stats:serverHas8BITMIME:convertEightBit:)``
    /// for what was read.
    func transfer(serverHas8BITMIME: Bool, convertEightBit: Bool) -> BodyTransfer {
        BodyTransfer.decide(
            headers: headers, stats: stats, serverHas8BITMIME: serverHas8BITMIME, convertEightBit: convertEightBit)
    }
}
