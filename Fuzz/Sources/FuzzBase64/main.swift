import Glibc
import ApusMessage

/// Base64.decode must never crash; what it decodes must re-encode and decode the same.
func fuzzOne(_ bytes: [UInt8]) {
    if let decoded = Base64.decode(bytes) {
        precondition(Base64.decode(Base64.encode(decoded)) == decoded)
    }
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
