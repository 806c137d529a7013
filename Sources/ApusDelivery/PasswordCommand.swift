import ApusPOSIX
import Glibc

/// Runs a `passwordeval` command and collects what it prints.
///
/// The command runs as `/bin/sh -p -c COMMAND` through
/// ``SpawnedProcess/collectOutput(_:arguments:environment:limit:until:)``
/// (`-p` keeps the apus group of a setgid run: dash drops it otherwise), in its
/// own process group, with standard input from `/dev/null`, standard output to
/// a pipe, standard error inherited (so a prompt or complaint reaches the user),
/// default signal dispositions and an empty signal mask, and the process's
/// environment with `PATH` replaced by `/usr/bin:/bin`. (When apus runs setgid
/// the command has already cut its environment down; see security.md.)
///
/// At most ``outputLimit`` bytes are read; the command must exit with status 0
/// within the timeout, or its whole process group is killed with `SIGKILL`.
package enum PasswordCommand {
    /// The most output accepted: 64 KiB.
    package static let outputLimit = 64 << 10
    /// The `PATH` the command sees.
    package static let safePath = "/usr/bin:/bin"

    /// Runs `command` and returns everything it wrote to standard output.
    ///
    /// - Throws: ``PasswordError`` (`.spawnFailed`, `.commandFailed`,
    ///   `.timedOut`, `.outputTooLong`).
    package static func run(_ command: String, timeout: Double) throws(PasswordError) -> [UInt8] {
        var environment = ["PATH=\(safePath)"]
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if !text.hasPrefix("PATH=") { environment.append(text) }
            entry += 1
        }
        let ended: ProcessExit
        let output: [UInt8]
        do {
            // -p: Debian's /bin/sh is dash, which otherwise resets the effective
            // group to the real one, so a setgid apus's command could not read a
            // file of the apus group (security.md "Secrets").
            (ended, output) = try SpawnedProcess.collectOutput(
                "/bin/sh", arguments: ["/bin/sh", "-p", "-c", command], environment: environment,
                limit: outputLimit, until: .after(seconds: timeout))
        } catch {
            switch error {
            case .notStarted(let cause) where cause.operation == "pipe":
                throw PasswordError(.spawnFailed, message: "passwordeval: pipe: \(cause.reason)")
            case .notStarted(let cause):
                throw PasswordError(.spawnFailed, message: "passwordeval: cannot run /bin/sh: \(cause.reason)")
            case .unreadable(let cause):
                throw PasswordError(.commandFailed, message: "passwordeval: \(cause)")
            case .tooLong:
                throw PasswordError(.outputTooLong, message: "passwordeval: command printed more than 64 KiB")
            case .timedOut:
                throw PasswordError(.timedOut, message: "passwordeval: command timed out after \(Int(timeout)) s")
            }
        }
        if ended.signal != 0 {
            throw PasswordError(.commandFailed, message: "passwordeval: command killed by signal \(ended.signal)")
        }
        if ended.code != 0 {
            throw PasswordError(.commandFailed, message: "passwordeval: command exited with status \(ended.code)")
        }
        return output
    }
}
