import ApusMessage
import FuzzDriver

/// MessageReader must never crash or grow past its limits; fed whole and in
/// chunks it must give the same headers and body; header changes and recipient
/// extraction on what it read must not crash.
func read(_ bytes: [UInt8], chunk: Int) -> (Headers, [UInt8], Bool)? {
    var reader = MessageReader(
        dotTerminates: bytes.first.map { $0 & 1 == 0 } ?? true,
        limits: .init(maximumHeaderOctets: 4096, maximumHeaderLines: 100, maximumBodyPiece: 64))
    var headers = Headers()
    var body: [UInt8] = []
    var ended = false
    func drain() -> Bool {
        do {
            while let e = try reader.next() {
                switch e {
                case .header(let f): headers.append(f)
                case .endOfHeaders: break
                case .bodyLine(let l): body += l + [13, 10]
                case .bodyPart(let p):
                    precondition(p.count <= 64)
                    body += p
                case .end: ended = true
                }
            }
            return true
        } catch {
            return false
        }
    }
    var i = 0
    while i < bytes.count {
        let end = min(bytes.count, i + chunk)
        reader.append(bytes[i..<end])
        if !drain() { return nil }
        i = end
    }
    reader.finish()
    if !drain() { return nil }
    precondition(ended)
    return (headers, body, reader.stats.bodyHasLongLines)
}

func fuzzOne(_ bytes: [UInt8]) {
    let whole = read(bytes, chunk: max(1, bytes.count))
    let pieces = read(bytes, chunk: 7)
    precondition((whole == nil) == (pieces == nil))
    guard let (headers, body, _) = whole, let (h2, b2, _) = pieces else { return }
    precondition(headers == h2 && body == b2)
    for f in headers {
        _ = f.value
        precondition(!f.name.isEmpty)
    }
    _ = try? Recipients.extract(from: headers)
    var changed = headers
    let sender = (try? EnvelopeAddress.parse("a@b.example")) ?? .null
    try? HeaderChanges(sender: sender, fullName: "F", date: "Thu, 1 Jan 1970 00:00:00 +0000", messageID: "<x@y>").apply(
        to: &changed)
    precondition(!changed.contains(named: "Bcc"))
    var qp: [UInt8] = []
    var encoder = QuotedPrintableEncoder()
    encoder.encode(line: body.prefix(2000), into: &qp)
    precondition(!qp.split(separator: 10).contains { $0.count > 77 })
}

runFuzzer(fuzzOne)
