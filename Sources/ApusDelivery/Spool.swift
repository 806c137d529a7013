import ApusPOSIX

/// Holds a message being submitted: in memory up to ``memoryLimit`` bytes,
/// then in an unnamed temporary file (`O_TMPFILE`, so nothing is left behind
/// if the process dies), so memory use does not grow with the message.
///
/// Write it once with ``append(_:)``, then read it back any number of times
/// with ``read(from:into:)`` — for the SMTP transaction and, when the relay
/// cannot take it, for the queue.
package final class Spool {
    /// Bytes kept in memory before spilling to a file.
    package let memoryLimit: Int
    /// The directory for the temporary file.
    package let directory: String
    private var memory: [UInt8] = []
    private var file: FileDescriptor? = nil
    /// Bytes appended to the file but not yet written: the file gets writes
    /// of at least ``writeSize`` octets, not one per line.
    private var pending: [UInt8] = []
    /// The smallest write to the file (but the last).
    package static let writeSize = 1 << 16
    /// How many writes went to the file so far (each of ``writeSize`` octets
    /// or more, but the last before a read).
    package private(set) var fileWrites = 0
    /// The number of bytes appended.
    package private(set) var count = 0

    /// An empty spool that spills to `directory` past `memoryLimit` bytes.
    package init(directory: String, memoryLimit: Int = 1 << 20) {
        self.directory = directory
        self.memoryLimit = memoryLimit
    }

    deinit { file?.close() }

    /// Whether the content went to a file.
    package var isOnDisk: Bool { file != nil }

    /// Appends bytes. Throws ``Errno`` when the temporary file cannot be
    /// created or written (disk full).
    package func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        if file == nil && memory.count + bytes.count > memoryLimit {
            let fd = try Spool.openTemporary(in: directory)
            file = fd
            let held = memory
            memory = []
            try fd.writeAll(held)
            fileWrites += 1
            pending.reserveCapacity(Spool.writeSize)
        }
        if let file {
            if pending.isEmpty && bytes.count >= Spool.writeSize {
                try file.writeAll(bytes)
                fileWrites += 1
            } else {
                pending.append(contentsOf: bytes)
                if pending.count >= Spool.writeSize { try writePending(file) }
            }
        } else {
            memory.append(contentsOf: bytes)
        }
        count += bytes.count
    }

    /// Writes the bytes held back to the file.
    private func writePending(_ file: FileDescriptor) throws {
        guard !pending.isEmpty else { return }
        try pending.withUnsafeBytes { try file.writeAll($0) }
        fileWrites += 1
        pending.removeAll(keepingCapacity: true)
    }

    /// Appends bytes.
    package func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append($0) }
    }

    /// Copies up to `buffer.count` bytes starting at `offset` into `buffer`;
    /// returns how many (0 at the end).
    package func read(from offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard offset < count else { return 0 }
        let n = min(buffer.count, count - offset)
        if let file {
            try writePending(file)
            return try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n]), at: Int64(offset))
        }
        memory.withUnsafeBytes { raw in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + n]))
        }
        return n
    }

    /// Calls `body` with the content of a spool held in memory.
    func withMemory<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        precondition(file == nil, "the spool is on disk")
        return try memory.withUnsafeBytes(body)
    }

    /// Calls `body` with successive chunks of the content, in order.
    package func forEachChunk(size: Int = 1 << 16, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        if file == nil {
            try memory.withUnsafeBytes { try body($0) }
            return
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 1)
        defer { buffer.deallocate() }
        var offset = 0
        while true {
            let n = try read(from: offset, into: buffer)
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += n
        }
    }

    /// An unnamed file in `directory` (`O_TMPFILE`), or — where the file system
    /// lacks it — a named one (`.apus-spool-XXXXXX`) removed at once; one left by
    /// a process killed in between is swept by a queue run after a day.
    static func openTemporary(in directory: String) throws(Errno) -> FileDescriptor {
        do {
            return try FileDescriptor.openUnnamed(in: directory)
        } catch {
            // No O_TMPFILE here (or another failure, which mkstemp then reports).
        }
        let (fd, path) = try FileSystem.makeTemporaryFile(prefix: directory + "/.apus-spool-")
        do {
            try FileSystem.unlink(path)
        } catch {
            // A failed unlink leaves a named file nobody reads: queue runs sweep
            // `.apus-spool-*` files after a day (QueueStore.sweep), so go on.
        }
        return fd
    }
}
