import ApusOAuth
import FuzzDriver

/// HTTPResponseParser must never crash or grow without bound; fed the input
/// whole or in two parts (the first part alone never completing a different
/// response), it must give the same result.
func fuzzOne(_ bytes: [UInt8]) {
    let whole = Result { try HTTPResponseParser.parse(bytes, atEnd: true) }
    if case .success(let response) = whole {
        precondition(response != nil, "at the end a response is complete or an error")
        if let response {
            precondition((200...599).contains(response.status))
            precondition(response.body.count <= HTTPResponseParser.maximumSize)
        }
    }
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    if let early = try? HTTPResponseParser.parse(Array(bytes[..<split]), atEnd: false) {
        // A response complete before all bytes arrived: the rest must be an error.
        if case .success(let response) = whole { precondition(split == bytes.count && response == early) }
    }
}

runFuzzer(fuzzOne)
