import Glibc

/// A raw file descriptor with thin throwing wrappers around the calls apus makes.
///
/// A value type: it does not own the descriptor, so callers `close()` it
/// exactly once (use ``closeAfter(_:)``). Each method names its C function.
public struct FileDescriptor: Hashable, Sendable {
    /// The descriptor number.
    public var rawValue: Int32

    /// Wraps an existing descriptor.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// Standard input.
    public static let standardInput = FileDescriptor(rawValue: 0)
    /// Standard output.
    public static let standardOutput = FileDescriptor(rawValue: 1)
    /// Standard error.
    public static let standardError = FileDescriptor(rawValue: 2)

    /// Opens `path`. The corresponding C function is `open`; `O_CLOEXEC` is always added.
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws(Errno) -> FileDescriptor {
        let fd = try systemCall("open", path) { Glibc.open(path, flags | O_CLOEXEC, mode) }
        return FileDescriptor(rawValue: fd)
    }

    /// Reads up to `buffer.count` bytes; 0 means end of file. The C function is `read`.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try systemCall("read") { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Reads up to `buffer.count` bytes at `offset`, leaving the file offset
    /// alone; 0 means end of file. The C function is `pread`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(Errno) -> Int {
        try systemCall("pread") { Glibc.pread(rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    /// Writes some of `buffer` at `offset`, leaving the file offset alone;
    /// returns how many bytes went. The C function is `pwrite`.
    public func write(_ buffer: UnsafeRawBufferPointer, at offset: Int64) throws(Errno) -> Int {
        try systemCall("pwrite") { Glibc.pwrite(rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    /// Cuts (or extends with zeros) the file to `length` bytes. The C function is `ftruncate`.
    public func truncate(_ length: Int64) throws(Errno) {
        _ = try systemCall("ftruncate") { Glibc.ftruncate(rawValue, off_t(length)) }
    }

    /// Writes some of `buffer`, returning how many bytes went. The C function is `write`.
    public func write(_ buffer: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try systemCall("write") { Glibc.write(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Writes every byte of `buffer`, looping over short writes.
    public func writeAll(_ buffer: UnsafeRawBufferPointer) throws(Errno) {
        var offset = 0
        while offset < buffer.count {
            offset += try write(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
        }
    }

    /// Writes every byte of `bytes`.
    public func writeAll(_ bytes: [UInt8]) throws(Errno) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: bytes)
        try writeAll(UnsafeRawBufferPointer(buffer))
    }

    /// Reads until end of file (at most `limit` bytes; more is an `EFBIG` error).
    public func readAll(limit: Int = 64 << 20) throws(Errno) -> [UInt8] {
        var result: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
        defer { chunk.deallocate() }
        while true {
            let n = try read(into: chunk)
            if n == 0 { return result }
            if result.count + n > limit { throw Errno(EFBIG, operation: "read") }
            result.append(contentsOf: chunk[0..<n])
        }
    }

    /// Flushes data and metadata to the disk. The C function is `fsync`.
    public func sync() throws(Errno) {
        _ = try systemCall("fsync") { Glibc.fsync(rawValue) }
    }

    /// Closes the descriptor, ignoring errors (there is nothing to retry on Linux).
    public func close() {
        _ = Glibc.close(rawValue)
    }

    /// Runs `body`, then closes the descriptor whatever happened.
    public func closeAfter<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        defer { close() }
        return try body()
    }

    /// Sets or clears `O_NONBLOCK`. The C function is `fcntl`.
    public func setNonBlocking(_ on: Bool) throws(Errno) {
        let flags = try systemCall("fcntl") { fcntl(rawValue, F_GETFL) }
        let wanted = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
        if wanted != flags { _ = try systemCall("fcntl") { fcntl(rawValue, F_SETFL, wanted) } }
    }

    /// Waits until the descriptor is readable (or writable), or the deadline passes.
    /// Returns false on timeout. The C function is `poll`.
    public func wait(forWriting: Bool = false, until deadline: Deadline) throws(Errno) -> Bool {
        var pfd = pollfd(fd: rawValue, events: Int16(forWriting ? POLLOUT : POLLIN), revents: 0)
        while true {
            let ms = deadline.remainingMilliseconds
            let n = Glibc.poll(&pfd, 1, ms)
            if n > 0 { return true }
            if n == 0 {
                if deadline.hasPassed { return false }
                continue
            }
            if errno == EINTR { continue }
            throw Errno.current("poll")
        }
    }
}
