import ApusConfig
import Glibc

/// Aliases.parse must never crash on any bytes; expanding every name it
/// accepted must end, give no more addresses than the table holds targets
/// (plus the input), and qualify every unqualified result.
func fuzzOne(_ bytes: [UInt8]) {
    do {
        let aliases = try Aliases.parse(bytes, file: "fuzz.aliases")
        let names = Array(aliases.entries.keys) + ["nobody"]
        let targetCount = aliases.entries.values.reduce(0) { $0 + $1.targets.count }
        let result = aliases.expand(names, qualifyingWith: "fuzz.example")
        precondition(result.count <= targetCount + names.count)
        precondition(result.allSatisfy { $0.contains("@") })
        precondition(aliases.count == aliases.entries.count)
        for name in names.prefix(50) { _ = aliases.expand([name]) }
    } catch let error as ConfigError {
        _ = error.description
    } catch {
        preconditionFailure("unexpected error type: \(error)")
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
