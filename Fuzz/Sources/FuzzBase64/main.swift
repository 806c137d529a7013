import ApusMessage
import FuzzDriver

/// Base64.decode must never crash; what it decodes must re-encode and decode the same.
func fuzzOne(_ bytes: [UInt8]) {
    if let decoded = Base64.decode(bytes) {
        precondition(Base64.decode(Base64.encode(decoded)) == decoded)
    }
}

runFuzzer(fuzzOne)
