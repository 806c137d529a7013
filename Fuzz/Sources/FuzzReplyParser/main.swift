import ApusSMTP
import FuzzDriver

/// ReplyParser must never crash or grow without bound, and feeding the input
/// whole or split in two must give the same replies (or both fail).
func fuzzOne(_ bytes: [UInt8]) {
    let whole = try? ReplyParser.parseAll(bytes)
    if let whole {
        for reply in whole {
            precondition(reply.code >= 200 && reply.code <= 599)
            precondition(reply.lines.count <= ReplyParser.maximumLines)
            if let enhanced = reply.enhancedCode { precondition(enhanced.statusClass == reply.code / 100) }
        }
    }
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    var parser = ReplyParser()
    var replies: [SMTPReply] = []
    var pending: [UInt8] = []
    var failed = false
    for part in [bytes[..<split], bytes[split...]] {
        pending += part
        var slice = pending[...]
        do {
            while let reply = try parser.parse(&slice) { replies.append(reply) }
        } catch {
            failed = true
            break
        }
        pending = Array(slice)
    }
    if !failed && (!pending.isEmpty || parser.isInsideReply) { failed = true }
    precondition(failed == (whole == nil))
    if let whole { precondition(whole == replies) }
}

runFuzzer(fuzzOne)
