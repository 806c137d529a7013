import ApusPOSIX
import Glibc
import Testing

/// The descriptor wrappers against real files, pipes and signals.
@Suite struct FileDescriptorTests {
    @Test func writeThenReadBackAFile() throws {
        let directory = try ScratchDirectory()
        let path = directory.path + "/f"
        let fd = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_EXCL, mode: 0o640)
        try fd.closeAfter { () throws(Errno) in
            try fd.writeAll(Array("hello, world".utf8))
            try fd.sync()
            let status = try fd.status()
            #expect(status.size == 12)
            #expect(status.isRegularFile)
        }
        let back = try FileDescriptor.open(path, O_RDONLY)
        let bytes = try back.closeAfter { () throws(Errno) in try back.readAll() }
        #expect(bytes == Array("hello, world".utf8))
    }

    @Test func openAddsCloseOnExec() throws {
        let fd = try FileDescriptor.open("/dev/null", O_RDONLY)
        defer { fd.close() }
        #expect(fcntl(fd.rawValue, F_GETFD) & FD_CLOEXEC != 0)
    }

    @Test func openFailureNamesThePath() throws {
        let directory = try ScratchDirectory()
        let path = directory.path + "/missing/file"
        #expect(throws: Errno(ENOENT, operation: "open", object: path)) {
            _ = try FileDescriptor.open(path, O_RDONLY)
        }
    }

    @Test func readAllStopsAtItsLimit() throws {
        let directory = try ScratchDirectory()
        let path = directory.path + "/big"
        let fd = try FileDescriptor.open(path, O_WRONLY | O_CREAT, mode: 0o600)
        try fd.closeAfter { () throws(Errno) in try fd.writeAll([UInt8](repeating: 65, count: 100)) }
        let reader = try FileDescriptor.open(path, O_RDONLY)
        defer { reader.close() }
        #expect(throws: Errno(EFBIG, operation: "read")) { _ = try reader.readAll(limit: 99) }
    }

    @Test func writeAllLoopsOverShortWritesToAPipe() throws {
        let (readEnd, writeEnd) = try makePipe()
        defer { readEnd.close() }
        // More than a pipe holds (64 KiB): the writer blocks until the reader drains.
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let writer = Thread { () throws(Errno) in
            defer { writeEnd.close() }
            try writeEnd.writeAll(payload)
        }
        let received = try readEnd.readAll()
        try writer.join()
        #expect(received == payload)
    }

    @Test func waitTimesOutOnASilentPipe() throws {
        let (readEnd, writeEnd) = try makePipe()
        defer {
            readEnd.close()
            writeEnd.close()
        }
        let start = Deadline.now
        #expect(try readEnd.wait(until: .after(seconds: 0.05)) == false)
        #expect(Deadline.seconds(since: start) >= 0.05)
        try writeEnd.writeAll([1])
        #expect(try readEnd.wait(until: .after(seconds: 5)) == true)
        #expect(try writeEnd.wait(forWriting: true, until: .after(seconds: 5)) == true)
    }

    @Test func nonBlockingReadOfAnEmptyPipeSaysWouldBlock() throws {
        let (readEnd, writeEnd) = try makePipe()
        defer {
            readEnd.close()
            writeEnd.close()
        }
        try readEnd.setNonBlocking(true)
        #expect(fcntl(readEnd.rawValue, F_GETFL) & O_NONBLOCK != 0)
        var byte: UInt8 = 0
        #expect(throws: Errno(EAGAIN, operation: "read")) {
            _ = try withUnsafeMutableBytes(of: &byte) { buffer throws(Errno) in try readEnd.read(into: buffer) }
        }
        try readEnd.setNonBlocking(false)
        #expect(fcntl(readEnd.rawValue, F_GETFL) & O_NONBLOCK == 0)
    }

    /// A real signal interrupts a blocking `read` (the handler is installed
    /// without `SA_RESTART`, the reading thread has the signal unblocked): the
    /// raw call fails with EINTR, the wrapper retries and returns the data that
    /// arrives later.
    @Test func readIsRetriedAfterARealSignal() throws {
        installInterruptingHandler()
        for retried in [false, true] {
            let (readEnd, writeEnd) = try makePipe()
            defer {
                readEnd.close()
                writeEnd.close()
            }
            let outcome = Box<(Int, Int32, UInt8)>()
            let reader = Thread { () throws(Errno) in
                var unblock = sigset_t()
                sigemptyset(&unblock)
                sigaddset(&unblock, SIGUSR2)
                pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
                var byte: UInt8 = 0
                if retried {
                    let n = try withUnsafeMutableBytes(of: &byte) { buffer throws(Errno) in
                        try readEnd.read(into: buffer)
                    }
                    outcome.value = (n, 0, byte)
                } else {
                    let n = withUnsafeMutableBytes(of: &byte) { Glibc.read(readEnd.rawValue, $0.baseAddress, 1) }
                    outcome.value = (n, errno, byte)
                }
            }
            // Signal until the data is written: at least one lands while read blocks.
            for _ in 0..<10 {
                usleep(20_000)
                pthread_kill(reader.id, SIGUSR2)
            }
            try writeEnd.writeAll([42])
            try reader.join()
            let (n, code, byte) = try #require(outcome.value)
            if retried {
                #expect(n == 1)
                #expect(byte == 42)
            } else {
                #expect(n == -1)
                #expect(code == EINTR)
            }
        }
    }
}

/// A value handed from one thread to another (read after `join`).
final class Box<T>: @unchecked Sendable {
    var value: T?
}

/// A pipe's two ends.
func makePipe() throws -> (FileDescriptor, FileDescriptor) {
    var ends: [Int32] = [0, 0]
    _ = try systemCall("pipe") { pipe(&ends) }
    return (FileDescriptor(rawValue: ends[0]), FileDescriptor(rawValue: ends[1]))
}

/// Installs a do-nothing SIGUSR2 handler without `SA_RESTART`, so the signal
/// makes a blocking system call fail with EINTR.
func installInterruptingHandler() {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in }
    action.sa_flags = 0
    sigemptyset(&action.sa_mask)
    sigaction(SIGUSR2, &action, nil)
}
