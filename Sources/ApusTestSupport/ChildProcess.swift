import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, with a clean signal state.
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

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, error, 2)
        for fd in Set(closing + [input, output, error]) where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
        // glibc ≥ 2.34 has posix_spawn_file_actions_addclosefrom_np, which Glibc's module hides.
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if closingAllOthers,
            let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        sigdelset(&all, SIGKILL)
        sigdelset(&all, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var pid: pid_t = 0
        let result = withCStrings(argv) { cArgv in
            withCStrings(env) { cEnv in
                posix_spawn(&pid, path, &actions, &attributes, cArgv, cEnv)
            }
        }
        if result != 0 {
            throw SpawnError(description: "cannot run \(executable): \(String(cString: strerror(result)))")
        }
        return ChildProcess(pid: pid)
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

    /// Sends `signal` to the child.
    func signal(_ number: Int32) { _ = kill(pid, number) }
}

/// A program could not be started.
public struct SpawnError: Error, CustomStringConvertible {
    /// What failed and why.
    public var description: String
}

/// Calls `body` with a NULL-terminated C array of `strings`.
private func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return body(pointers)
}

/// Decodes a raw wait status: (exit status or signal number, whether signalled).
func decodeWaitStatus(_ status: Int32) -> (Int32, Bool) {
    let signal = status & 0x7f
    if signal == 0 { return ((status >> 8) & 0xff, false) }
    return (signal, true)
}
