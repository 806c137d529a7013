import ApusConfig
import FuzzDriver

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
        precondition(result.allSatisfy { $0.utf8.contains(0x40) })
        precondition(aliases.count == aliases.entries.count)
        for name in names.prefix(50) { _ = aliases.expand([name]) }
    } catch let error as ConfigError {
        _ = error.description
    } catch {
        preconditionFailure("unexpected error type: \(error)")
    }
}

runFuzzer(fuzzOne)
