import ApusPOSIX
import Glibc

/// Runs a `passwordeval` command and collects what it prints.
///
/// The command runs as `/bin/sh -p -c COMMAND` through ``SpawnedProcess`` (`-p`
/// keeps the apus group of a setgid run: dash drops it otherwise), in its own
/// process group, with standard input from `/dev/null`, standard output to a
/// pipe, standard error inherited (so a prompt or complaint reaches the user),
/// default signal dispositions and an empty signal mask, and the process's
/// environment with `PATH` replaced by `/usr/bin:/bin`. (When apus runs setgid
/// the command has already cut its environment down; see security.md.)
///
/// At most ``outputLimit`` bytes are read; the command must exit with status 0
/// within the timeout, or its whole process group is killed with `SIGKILL`.
public enum PasswordCommand {
    /// The most output accepted: 64 KiB.
    public static let outputLimit = 64 << 10
    /// The `PATH` the command sees.
    public static let safePath = "/usr/bin:/bin"

    /// Runs `command` and returns everything it wrote to standard output.
    ///
    /// - Throws: ``PasswordError`` (`.spawnFailed`, `.commandFailed`,
    ///   `.timedOut`, `.outputTooLong`).
    public static func run(_ command: String, timeout: Double) throws(PasswordError) -> [UInt8] {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) != 0 {
            throw PasswordError(.spawnFailed, message: "passwordeval: pipe: \(Errno.current("pipe").reason)")
        }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        let readEnd = FileDescriptor(rawValue: fds[0])
        defer { readEnd.close() }
        let child: SpawnedProcess
        do {
            defer { close(fds[1]) }
            child = try spawn(command, stdout: fds[1])
        }
        let deadline = Deadline.after(seconds: timeout)
        var output: [UInt8] = []
        var failure: PasswordError?
        do {
            try readEnd.setNonBlocking(true)
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
            defer { chunk.deallocate() }
            reading: while true {
                guard try readEnd.wait(until: deadline) else {
                    failure = PasswordError(
                        .timedOut, message: "passwordeval: command timed out after \(Int(timeout)) s")
                    break reading
                }
                let count = Glibc.read(readEnd.rawValue, chunk.baseAddress, chunk.count)
                if count == 0 { break reading }
                if count < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    throw Errno.current("read")
                }
                if output.count + count > outputLimit {
                    failure = PasswordError(.outputTooLong, message: "passwordeval: command printed more than 64 KiB")
                    break reading
                }
                output.append(contentsOf: chunk[0..<count])
            }
        } catch {
            failure = PasswordError(.commandFailed, message: "passwordeval: \(error)")
        }
        if failure != nil { child.signal(SIGKILL, group: true) }
        let ended = child.wait(until: deadline)
        if ended == nil {
            // Past the deadline: kill what it started too, and reap it.
            child.signal(SIGKILL, group: true)
            _ = child.wait()
        }
        if let failure { throw failure }
        guard let status = ended else {
            throw PasswordError(.timedOut, message: "passwordeval: command timed out after \(Int(timeout)) s")
        }
        if status.signal != 0 {
            throw PasswordError(.commandFailed, message: "passwordeval: command killed by signal \(status.signal)")
        }
        if status.code != 0 {
            throw PasswordError(.commandFailed, message: "passwordeval: command exited with status \(status.code)")
        }
        return output
    }

    /// Starts `/bin/sh -p -c command` with `stdout` as its standard output,
    /// in a process group of its own.
    private static func spawn(_ command: String, stdout: Int32) throws(PasswordError) -> SpawnedProcess {
        var environment = ["PATH=\(safePath)"]
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if !text.hasPrefix("PATH=") { environment.append(text) }
            entry += 1
        }
        // -p: Debian's /bin/sh is dash, which otherwise resets the effective
        // group to the real one, so a setgid apus's command could not read a
        // file of the apus group (security.md "Secrets").
        do {
            return try SpawnedProcess.spawn(
                "/bin/sh", arguments: ["/bin/sh", "-p", "-c", command], environment: environment,
                standardInput: .null, standardOutput: .descriptor(stdout), newProcessGroup: true)
        } catch {
            throw PasswordError(.spawnFailed, message: "passwordeval: cannot run /bin/sh: \(error.reason)")
        }
    }
}
