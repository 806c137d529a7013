import ApusCommand
import FuzzDriver

/// The `-bs` command reader must never crash or buffer without bound, and
/// feeding the input whole or split in two must give the same events (DATA
/// and BDAT content merged, since pieces depend on how the bytes arrive).
func events(_ parts: [ArraySlice<UInt8>]) -> [SMTPCommandReader.Event] {
    var reader = SMTPCommandReader()
    var out: [SMTPCommandReader.Event] = []
    for part in parts {
        reader.append(part)
        while let event = reader.next() {
            if case .command(.data) = event { reader.beginData(limit: 1000) }
            switch (out.last, event) {
            case (.data(let a)?, .data(let b)): out[out.count - 1] = .data(a + b)
            case (.chunk(let a)?, .chunk(let b)): out[out.count - 1] = .chunk(a + b)
            case (_, .data(let b)):
                precondition(b.count <= SMTPCommandReader.maximumDataPiece)
                out.append(event)
            default: out.append(event)
            }
        }
    }
    return out
}

func fuzzOne(_ bytes: [UInt8]) {
    let whole = events([bytes[...]])
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    precondition(events([bytes[..<split], bytes[split...]]) == whole)
    for event in whole {
        if case .syntaxError(let code, let text) = event {
            precondition([500, 501, 502, 555].contains(code) && !text.isEmpty)
        }
    }
}

runFuzzer(fuzzOne)
