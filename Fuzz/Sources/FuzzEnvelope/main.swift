import ApusQueue
import Glibc

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

@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runDriver(&argc, &argv) { data, size in
    fuzzOne(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
})
