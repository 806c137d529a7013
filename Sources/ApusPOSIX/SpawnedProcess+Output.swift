import Glibc

/// Why ``SpawnedProcess/collectOutput(_:arguments:environment:limit:until:)``
/// has no output to give. In every case but ``notStarted(_:)`` the program's
/// whole process group has been killed and the program reaped.
public enum OutputCollectionFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// The pipe could not be made (operation `pipe`) or the program not
    /// started (`posix_spawn`).
    case notStarted(Errno)
    /// Waiting for or reading its output failed (`poll`, `read`).
    case unreadable(Errno)
    /// It printed more than the limit.
    case tooLong
    /// The deadline passed before it closed its output and ended.
    case timedOut

    /// "posix_spawn /bin/sh: No such file or directory", "output too long", "timed out".
    public var description: String {
        switch self {
        case .notStarted(let error), .unreadable(let error): error.description
        case .tooLong: "output too long"
        case .timedOut: "timed out"
        }
    }
}

extension SpawnedProcess {
    /// Runs `path` and collects what it writes to standard output, at most
    /// `limit` bytes, until `deadline`: the one place apus runs a command for
    /// its output (`passwordeval`).
    ///
    /// The program runs in a process group of its own (see
    /// ``spawn(_:arguments:environment:standardInput:standardOutput:standardError:closing:closingAllOthers:newProcessGroup:)``),
    /// with standard input from `/dev/null`, standard output to a pipe and
    /// standard error inherited. The pipe is read without blocking past the
    /// deadline (`poll`); once it closes, the program is reaped, waiting until
    /// the deadline at most. When the output exceeds `limit`, reading it fails,
    /// or the deadline passes, the whole group gets `SIGKILL` (so nothing it
    /// started lingers) and is reaped before the error is thrown.
    ///
    /// - Returns: how the program ended and everything it printed.
    /// - Throws: ``OutputCollectionFailure``.
    public static func collectOutput(
        _ path: String, arguments: [String], environment: [String], limit: Int, until deadline: Deadline
    ) throws(OutputCollectionFailure) -> (exit: ProcessExit, output: [UInt8]) {
        var ends: [Int32] = [-1, -1]
        do throws(Errno) {
            _ = try systemCall("pipe") { pipe(&ends) }
        } catch {
            throw .notStarted(error)
        }
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        let readEnd = FileDescriptor(rawValue: ends[0])
        defer { readEnd.close() }
        let child: SpawnedProcess
        do throws(Errno) {
            defer { _ = Glibc.close(ends[1]) }
            child = try spawn(
                path, arguments: arguments, environment: environment, standardInput: .null,
                standardOutput: .descriptor(ends[1]), newProcessGroup: true)
        } catch {
            throw .notStarted(error)
        }
        var output: [UInt8] = []
        var failure: OutputCollectionFailure?
        do throws(Errno) {
            try readEnd.setNonBlocking(true)
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
            defer { chunk.deallocate() }
            reading: while true {
                guard try readEnd.wait(until: deadline) else {
                    failure = .timedOut
                    break reading
                }
                let count: Int
                do throws(Errno) {
                    count = try readEnd.read(into: chunk)
                } catch  where error.code == EAGAIN {
                    continue reading
                }
                if count == 0 { break reading }
                if output.count + count > limit {
                    failure = .tooLong
                    break reading
                }
                output.append(contentsOf: chunk[0..<count])
            }
        } catch {
            failure = .unreadable(error)
        }
        if failure != nil { child.signal(SIGKILL, group: true) }
        let ended = child.wait(until: deadline)
        if ended == nil {
            // Past the deadline: kill what it started too, and reap it.
            child.signal(SIGKILL, group: true)
            _ = child.wait()
        }
        if let failure { throw failure }
        guard let ended else { throw .timedOut }
        return (ended, output)
    }
}
