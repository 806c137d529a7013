import ApusQueue
import FuzzDriver

/// Envelope.decode must never crash on any bytes; what it accepts must encode
/// and decode to the same envelope, and the encoding must be accepted again.
func fuzzOne(_ bytes: [UInt8]) {
    guard let envelope = try? Envelope.decode(bytes, path: "fuzz") else { return }
    let encoded = envelope.encode()
    guard let again = try? Envelope.decode(encoded, path: "fuzz") else {
        preconditionFailure("encoded envelope does not decode")
    }
    precondition(again == envelope)
    precondition(again.encode() == encoded)
}

runFuzzer(fuzzOne)
