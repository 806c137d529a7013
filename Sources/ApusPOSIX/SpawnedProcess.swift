import CApusSystem
import Glibc

/// How a child process ended: its exit status, or the signal that killed it.
public struct ProcessExit: Equatable, Sendable, CustomStringConvertible {
    /// The exit status (0–255); 0 when killed by a signal.
    public var code: Int32
    /// The signal that killed it, or 0.
    public var signal: Int32

    /// Decodes a raw `waitpid` status.
    public init(waitStatus status: Int32) {
        let signal = status & 0x7F
        self.signal = signal
        code = signal == 0 ? (status >> 8) & 0xFF : 0
    }

    /// "exited with status 3" or "killed by signal 9".
    public var description: String {
        signal != 0 ? "killed by signal \(signal)" : "exited with status \(code)"
    }
}

/// A child process started with `posix_spawn`: the one place apus (and its
/// test support) starts programs.
///
/// The child gets an empty signal mask and every catchable signal at its
/// default action (the parent may block or ignore some, as Swift Testing's
/// threads and a setgid apus do), the descriptors named for 0, 1 and 2, and
/// optionally its own process group and no other open descriptor. Waiting
/// with a deadline polls a pidfd (Linux 5.3+), so no timer loop spins.
public struct SpawnedProcess: Sendable {
    /// Where a standard descriptor of the child comes from.
    public enum Source: Sendable {
        /// The parent's own.
        case inherited
        /// `/dev/null` (read for 0, written for 1 and 2).
        case null
        /// This descriptor of the parent (duplicated onto the child's).
        case descriptor(Int32)
    }

    /// The process id.
    public let pid: pid_t

    /// Wraps a process this program started.
    public init(pid: pid_t) { self.pid = pid }

    /// Starts `path` with `arguments` (argv[0] included) and `environment`
    /// (`NAME=value` entries). The C function is `posix_spawn`.
    ///
    /// - Parameters:
    ///   - closing: parent descriptors the child must not keep (other pipe ends).
    ///   - closingAllOthers: close every descriptor above 2 in the child.
    ///   - newProcessGroup: run the child in a process group of its own, so
    ///     ``signal(_:group:)`` reaches everything it starts.
    /// - Throws: ``Errno`` with the operation `posix_spawn` and the path.
    public static func spawn(
        _ path: String, arguments: [String], environment: [String],
        standardInput: Source = .inherited, standardOutput: Source = .inherited, standardError: Source = .inherited,
        closing: [Int32] = [], closingAllOthers: Bool = false, newProcessGroup: Bool = false
    ) throws(Errno) -> SpawnedProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var passed: [Int32] = []
        for (target, source) in [(Int32(0), standardInput), (1, standardOutput), (2, standardError)] {
            switch source {
            case .inherited: break
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .descriptor(let fd):
                posix_spawn_file_actions_adddup2(&actions, fd, target)
                passed.append(fd)
            }
        }
        for fd in Set(closing + passed) where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
        if closingAllOthers {
            _ = withUnsafeMutablePointer(to: &actions) { apus_spawn_close_from($0, 3) }
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
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if newProcessGroup {
            flags |= POSIX_SPAWN_SETPGROUP
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        if result != 0 { throw Errno(result, operation: "posix_spawn", object: path) }
        return SpawnedProcess(pid: pid)
    }

    /// Reaps the child if it has ended; nil while it runs. The C function is
    /// `waitpid(WNOHANG)`.
    public func poll() -> ProcessExit? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return ProcessExit(waitStatus: status) }
            if result == -1 && errno == EINTR { continue }
            return nil
        }
    }

    /// Waits for the child to end.
    public func wait() -> ProcessExit {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return ProcessExit(waitStatus: status)
    }

    /// Waits for the child to end until `deadline`; nil when it still runs.
    /// Polls a pidfd (`pidfd_open`); where the kernel has none, checks every 5 ms.
    public func wait(until deadline: Deadline) -> ProcessExit? {
        if let ended = poll() { return ended }
        let pidfd = apus_pidfd_open(pid)
        if pidfd >= 0 {
            let descriptor = FileDescriptor(rawValue: pidfd)
            defer { descriptor.close() }
            while true {
                let readable: Bool
                do {
                    readable = try descriptor.wait(until: deadline)
                } catch {
                    break
                }
                if let ended = poll() { return ended }
                if !readable { return nil }
            }
        }
        while !deadline.hasPassed {
            if let ended = poll() { return ended }
            usleep(5000)
        }
        return poll()
    }

    /// Sends `number` to the child, or to its whole process group (see
    /// `newProcessGroup` of ``spawn(_:arguments:environment:standardInput:standardOutput:standardError:closing:closingAllOthers:newProcessGroup:)``).
    public func signal(_ number: Int32, group: Bool = false) {
        _ = kill(group ? -pid : pid, number)
    }
}
