import Glibc

/// libFuzzer's driver (linked by `-sanitize=fuzzer`): runs `callback` on each input.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// The harness being run; a C callback cannot capture it.
nonisolated(unsafe) private var harness: ([UInt8]) -> Void = { _ in }

/// Hands every input libFuzzer generates to `body` as bytes, with the
/// command line's libFuzzer options, and exits with libFuzzer's status.
package func runFuzzer(_ body: @escaping ([UInt8]) -> Void) -> Never {
    harness = body
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(
        runDriver(&argc, &argv) { data, size in
            harness(size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
            return 0
        })
}
