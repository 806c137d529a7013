import ApusPOSIX
import Foundation
import Glibc

/// A child process started with ``SpawnedProcess`` (`posix_spawn`), with a clean signal state.
///
/// Foundation's `Process` passes on the spawning thread's signal mask, and
/// Swift Testing's worker threads block most signals (SIGTERM included), so
/// a child started that way cannot be stopped by SIGTERM and runs with
/// signals blocked that a real shell would deliver. This starts children
/// with an empty mask and every signal at its default action (`SIGPIPE` too,
/// which the test process ignores).
struct ChildProcess {
    /// The process id.
    let pid: pid_t

    /// Starts `executable` with `arguments` (argv[0] is `executable`).
    ///
    /// - Parameters:
    ///   - environment: the whole environment, or nil for the test's.
    ///   - workingDirectory: run there (through `/bin/sh -c 'cd … && exec …'`).
    ///   - input, output, error: descriptors for 0, 1 and 2.
    ///   - closing: descriptors to close in the child (the other pipe ends).
    ///   - closingAllOthers: close every descriptor above 2 in the child (a
    ///     long-lived server must not hold the test's sockets and pipes open).
    static func spawn(
        _ executable: String, arguments: [String], environment: [String: String]?, workingDirectory: String?,
        input: Int32, output: Int32, error: Int32, closing: [Int32], closingAllOthers: Bool = false
    ) throws -> ChildProcess {
        var path = executable
        var argv = [executable] + arguments
        if let workingDirectory {
            path = "/bin/sh"
            argv = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", workingDirectory, executable] + arguments
        }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }

        do {
            let child = try SpawnedProcess.spawn(
                path, arguments: argv, environment: env, standardInput: .descriptor(input),
                standardOutput: .descriptor(output), standardError: .descriptor(error), closing: closing,
                closingAllOthers: closingAllOthers)
            return ChildProcess(pid: child.pid)
        } catch {
            throw SpawnError(description: "cannot run \(executable): \(error.reason)")
        }
    }

    /// Starts a test server: standard input from `/dev/null`, standard output
    /// and error to the file `log` (created or emptied), the test's environment.
    static func spawnServer(_ executable: String, arguments: [String], log: String) throws -> ChildProcess {
        let logFD = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let nullFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            close(logFD)
            close(nullFD)
        }
        return try spawn(
            executable, arguments: arguments, environment: nil, workingDirectory: nil, input: nullFD, output: logFD,
            error: logFD, closing: [])
    }

    /// Reaps the child if it has exited: nil while it runs, else the raw wait status.
    func poll() -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        return result == pid ? status : nil
    }

    /// Waits for the child to exit; returns the raw wait status.
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return status
    }

    /// Waits up to `seconds`; returns the raw status, or nil if it still runs.
    func wait(seconds: Double) -> Int32? {
        let end = Date(timeIntervalSinceNow: seconds)
        repeat {
            if let status = poll() { return status }
            Thread.sleep(forTimeInterval: 0.005)
        } while Date() < end
        return poll()
    }

    /// Stops the child: SIGTERM, then SIGKILL when it has not ended within
    /// `grace` seconds; reaps it either way.
    func terminate(grace: Double = 2) {
        signal(SIGTERM)
        if wait(seconds: grace) == nil {
            signal(SIGKILL)
            _ = wait()
        }
    }

    /// Sends `signal` to the child.
    func signal(_ number: Int32) { _ = kill(pid, number) }
}

/// Runs a closure the first time only, whichever thread asks: what makes a
/// test server's `stop()` idempotent (called by the test and again on release).
final class Once: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false

    /// Runs `body` unless an earlier call did.
    func run(_ body: () -> Void) {
        let first: Bool = lock.withLock {
            defer { done = true }
            return !done
        }
        if first { body() }
    }
}

/// A program could not be started.
package struct SpawnError: Error, CustomStringConvertible {
    /// What failed and why.
    package var description: String
}

/// Decodes a raw wait status: (exit status or signal number, whether signalled).
func decodeWaitStatus(_ status: Int32) -> (Int32, Bool) {
    let signal = status & 0x7f
    if signal == 0 { return ((status >> 8) & 0xff, false) }
    return (signal, true)
}
