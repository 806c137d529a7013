import ApusConfig
import FuzzDriver

/// Configuration.parse must never crash on any bytes; what it accepts must be
/// self-consistent: ports in range, the default account one of the accounts,
/// fingerprints 32 bytes, and the description free of a literal password.
func fuzzOne(_ bytes: [UInt8]) {
    do {
        let configuration = try Configuration.parse(bytes, file: "fuzz.conf", localDomain: { "fuzz.example" })
        precondition(!configuration.accounts.isEmpty)
        precondition(configuration.accounts.contains(configuration.defaultAccount))
        precondition(!configuration.host.retryIntervals.isEmpty)
        for account in configuration.accounts {
            precondition((1...65535).contains(account.relay.port))
            precondition(account.fallbacks.allSatisfy { (1...65535).contains($0.port) })
            precondition(account.tlsFingerprint.map { $0.count == 32 } ?? true)
            precondition(account.authentication == .off || account.user != nil)
            let text = account.description
            if case .literal(let secret) = account.password, secret.count >= 8 {
                precondition(!text.contains("\n" + secret + "\n"))
            }
            _ = account.matches(sender: "someone@fuzz.example")
        }
    } catch let error as ConfigError {
        _ = error.description
    } catch {
        preconditionFailure("unexpected error type: \(error)")
    }
}

runFuzzer(fuzzOne)
