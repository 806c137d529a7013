import Foundation
import Glibc

/// What a finished subprocess left: exit status, captured output, and whether
/// it had to be killed.
package struct SubprocessResult: Sendable {
    /// The exit status (0–255), or the signal number when ``signaled``.
    package var status: Int32
    /// Whether the process ended by a signal (then ``status`` is the signal).
    package var signaled: Bool
    /// Whether it outran the timeout and was killed (`SIGKILL`).
    package var timedOut: Bool
    /// Everything written to standard output.
    package var standardOutput: [UInt8]
    /// Everything written to standard error.
    package var standardError: [UInt8]

    /// Standard output as UTF-8 text (invalid bytes replaced).
    package var stdout: String { String(decoding: standardOutput, as: UTF8.self) }
    /// Standard error as UTF-8 text (invalid bytes replaced).
    package var stderr: String { String(decoding: standardError, as: UTF8.self) }
    /// Whether it exited normally with status 0.
    package var succeeded: Bool { !signaled && !timedOut && status == 0 }

    /// Creates a result.
    package init(
        status: Int32, signaled: Bool, timedOut: Bool, standardOutput: [UInt8], standardError: [UInt8]
    ) {
        self.status = status
        self.signaled = signaled
        self.timedOut = timedOut
        self.standardOutput = standardOutput
        self.standardError = standardError
    }
}

/// Runs programs for end-to-end tests: arguments, environment and standard
/// input given, standard output and error captured, a timeout that kills.
///
/// Standard input is written and both outputs are read concurrently by one
/// `poll` loop, so a program that writes much before reading all its input
/// cannot deadlock the test. `SIGPIPE` is ignored in the test process (a
/// program that exits without reading its input must not kill the tests).
package enum Subprocess {
    /// Runs `executable` to completion.
    ///
    /// - Parameters:
    ///   - executable: an absolute path (no `PATH` search).
    ///   - arguments: argv[1...]. (argv[0] is the path; to run under another
    ///     name, run a symbolic link with that name, see ``TemporaryDirectory/symlink(_:to:)``.)
    ///   - environment: the whole environment; nil inherits the test's.
    ///   - standardInput: bytes written to its standard input, which is then closed.
    ///   - workingDirectory: where it runs; nil for the current directory.
    ///   - timeout: seconds before it is killed with `SIGKILL` (``SubprocessResult/timedOut``).
    /// - Returns: the status and output.
    /// - Throws: when the program cannot be started (missing, not executable).
    package static func run(
        _ executable: String, arguments: [String] = [], environment: [String: String]? = nil,
        standardInput: [UInt8] = [], workingDirectory: String? = nil, timeout: Double = 30
    ) throws -> SubprocessResult {
        signal(SIGPIPE, SIG_IGN)
        let input = try makePipe()
        let output = try makePipe()
        let errors = try makePipe()
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(
                executable, arguments: arguments, environment: environment, workingDirectory: workingDirectory,
                input: input.read, output: output.write, error: errors.write,
                closing: [input.write, output.read, errors.read])
        } catch {
            for fd in [input.read, input.write, output.read, output.write, errors.read, errors.write] { close(fd) }
            throw error
        }
        // Our copies of the child's ends must go, or we never see end of file.
        close(input.read)
        close(output.write)
        close(errors.write)

        let deadline = Date(timeIntervalSinceNow: timeout)
        var streams = PipeLoop(input: input.write, pending: standardInput, outputs: [output.read, errors.read])
        var timedOut = false
        var status: Int32?
        var exitedAt: Date?
        while streams.isOpen {
            if status == nil, let done = child.poll() {
                status = done
                exitedAt = Date()
            }
            if let exitedAt, Date().timeIntervalSince(exitedAt) > 2 { break }  // a grandchild holds the pipe
            if !timedOut && status == nil && Date() > deadline {
                timedOut = true
                child.signal(SIGKILL)
            }
            streams.step(milliseconds: 20)
        }
        if status == nil {
            status = child.wait(seconds: max(0, deadline.timeIntervalSinceNow))
            if status == nil {
                timedOut = true
                child.signal(SIGKILL)
                status = child.wait()
            }
        }
        streams.closeAll()
        close(output.read)
        close(errors.read)
        let (code, signaled) = decodeWaitStatus(status ?? 0)
        return SubprocessResult(
            status: code, signaled: signaled, timedOut: timedOut,
            standardOutput: streams.collected[0], standardError: streams.collected[1])
    }

    /// A close-on-exec pipe (so children spawned by other tests do not hold it).
    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SpawnError(description: "pipe: \(String(cString: strerror(errno)))") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }
}

/// The `poll` loop behind ``Subprocess``: feeds one pipe, drains others.
private struct PipeLoop {
    var input: Int32?
    var pending: [UInt8]
    var written = 0
    var outputs: [Int32?]
    var collected: [[UInt8]]

    init(input: Int32, pending: [UInt8], outputs: [Int32]) {
        self.input = input
        self.pending = pending
        self.outputs = outputs
        self.collected = Array(repeating: [], count: outputs.count)
        _ = fcntl(input, F_SETFL, fcntl(input, F_GETFL) | O_NONBLOCK)
        if pending.isEmpty { closeInput() }
    }

    var isOpen: Bool { outputs.contains { $0 != nil } }

    mutating func closeInput() {
        if let fd = input { Glibc.close(fd) }
        input = nil
    }

    mutating func step(milliseconds: Int32) {
        var fds: [pollfd] = []
        if let fd = input { fds.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)) }
        for fd in outputs.compactMap({ $0 }) { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
        if poll(&fds, nfds_t(fds.count), milliseconds) <= 0 { return }
        for entry in fds where entry.revents != 0 {
            if entry.fd == input {
                let n = pending.withUnsafeBytes { raw in
                    Glibc.write(entry.fd, raw.baseAddress.map { $0 + written }, pending.count - written)
                }
                if n > 0 { written += n }
                if (n < 0 && errno != EAGAIN && errno != EINTR) || written == pending.count { closeInput() }
            } else if let index = outputs.firstIndex(of: entry.fd) {
                var buffer = [UInt8](repeating: 0, count: 65536)
                let n = buffer.withUnsafeMutableBytes { Glibc.read(entry.fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    collected[index].append(contentsOf: buffer[0..<n])
                } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                    outputs[index] = nil
                }
            }
        }
    }

    mutating func closeAll() {
        if input != nil { closeInput() }
    }
}
