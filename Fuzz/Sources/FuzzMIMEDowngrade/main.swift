import ApusMessage
import FuzzDriver

/// MIMEDowngrade must never crash; the first pass writes nothing; a body
/// without 8-bit bytes gets none; a leaf-only (non-multipart) 8-bit body
/// comes out 7-bit. The header qualification must never crash and must keep
/// valid fields.
func fuzzOne(_ bytes: [UInt8]) {
    // The first line (up to 200 octets) is the Content-Type value.
    let newline = bytes.firstIndex(of: 10) ?? min(bytes.count, 200)
    let typeValue = Array(bytes[..<min(newline, 200)]).filter { $0 != 13 && $0 != 0 }
    let body = Array(bytes.dropFirst(newline + 1))
    var headers = Headers()
    if let field = try? HeaderField(name: "Content-Type", value: typeValue) { headers.append(field) }
    if let field = try? HeaderField(name: "To", value: typeValue) { headers.append(field) }
    var lines = body.split(separator: 10, omittingEmptySubsequences: false).map { Array($0.prefix(998)) }
    if body.last == 10 { lines.removeLast() }

    var scan = MIMEDowngrade(headers: headers)
    var ignored: [UInt8] = []
    for line in lines { scan.feed(line: line, into: &ignored) }
    let analysis = scan.finish(into: &ignored)
    precondition(ignored.isEmpty)
    var pass = MIMEDowngrade(headers: headers, analysis: analysis)
    var out: [UInt8] = []
    for line in lines { pass.feed(line: line, into: &out) }
    pass.finish(into: &out)
    let inputHasEightBit = lines.contains { $0.contains { $0 >= 0x80 } }
    if !inputHasEightBit { precondition(!out.contains { $0 >= 0x80 }, "8-bit bytes out of a 7-bit body") }
    if !typeValue.contains(where: { $0 >= 0x80 }),
        !String(decoding: typeValue, as: UTF8.self).lowercased().contains("multipart"),
        !String(decoding: typeValue, as: UTF8.self).lowercased().contains("message/")
    {
        precondition(!out.contains { $0 >= 0x80 }, "a single 8-bit leaf was not converted")
    }

    var changes = HeaderChanges(
        sender: .null, fullName: nil, date: "Thu, 1 Jan 1970 00:00:00 +0000", messageID: "<x@y>")
    changes.senderDomain = Array("origin.example".utf8)
    changes.recipientDomain = Array("rcpt.example".utf8)
    var changed = headers
    try? changes.apply(to: &changed)
    for field in changed { precondition((try? HeaderField(raw: field.raw)) != nil) }
}

runFuzzer(fuzzOne)
