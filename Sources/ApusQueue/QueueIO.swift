import ApusPOSIX
import Glibc

// Positional I/O and identity checks the queue needs beyond ApusPOSIX.

extension FileDescriptor {
    /// Reads exactly `count` bytes at `offset` (fewer only at end of file). `pread`.
    func read(count: Int, at offset: Int64) throws(Errno) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = try systemCall("pread") {
                bytes.withUnsafeMutableBytes { raw in
                    guard let base = raw.baseAddress else { return 0 }
                    return pread(rawValue, base + done, count - done, off_t(offset) + off_t(done))
                }
            }
            if n == 0 { break }
            done += n
        }
        if done < count { bytes.removeSubrange(done...) }
        return bytes
    }

    /// Writes all of `bytes` at `offset`. `pwrite`.
    func write(_ bytes: [UInt8], at offset: Int64) throws(Errno) {
        var done = 0
        while done < bytes.count {
            let n = try systemCall("pwrite") {
                bytes.withUnsafeBytes { raw in
                    guard let base = raw.baseAddress else { return 0 }
                    return pwrite(rawValue, base + done, bytes.count - done, off_t(offset) + off_t(done))
                }
            }
            done += n
        }
    }

    /// Cuts the file to `length` bytes. `ftruncate`.
    func truncate(_ length: Int64) throws(Errno) {
        _ = try systemCall("ftruncate") { ftruncate(rawValue, off_t(length)) }
    }

    /// The file's device and inode (`fstat`).
    func identity() throws(Errno) -> FileIdentity {
        var raw = stat()
        _ = try systemCall("fstat") { fstat(rawValue, &raw) }
        return FileIdentity(device: UInt64(raw.st_dev), inode: UInt64(raw.st_ino))
    }
}

/// Which file a name or descriptor refers to.
struct FileIdentity: Equatable {
    var device: UInt64
    var inode: UInt64

    /// The identity of the file at `path` (`stat`, following no link: queue
    /// files are never links, and a link is not the message).
    static func of(_ path: String) throws(Errno) -> FileIdentity {
        var raw = stat()
        let call: (UnsafePointer<CChar>, UnsafeMutablePointer<stat>) -> Int32 = lstat
        _ = try systemCall("lstat", path) { call(path, &raw) }
        return FileIdentity(device: UInt64(raw.st_dev), inode: UInt64(raw.st_ino))
    }
}

/// A queued message's content, open for reading (``QueueStore/openContent(_:)``):
/// the part of a `.msg` file between its header and its records, or a whole
/// version-1 data file.
public final class QueueContent {
    private var file: FileDescriptor?
    private var offset: Int64
    private let end: Int64?
    /// Whether ``close()`` closes the descriptor (not when it is a lock's).
    private let owned: Bool

    init(file: FileDescriptor, start: Int64, length: Int64?, owned: Bool = true) {
        self.file = file
        self.offset = start
        self.end = length.map { start + $0 }
        self.owned = owned
    }

    deinit { close() }

    /// Reads the next bytes into `buffer`; 0 at the end of the content.
    /// - Throws: ``Errno``; `EIO` when a `.msg` file ends before its content does.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        guard let file else { return 0 }
        var count = buffer.count
        if let end {
            count = Int(min(Int64(count), end - offset))
            if count == 0 { return 0 }
        }
        let n = try systemCall("pread") { pread(file.rawValue, buffer.baseAddress, count, off_t(offset)) }
        if n == 0, end != nil { throw Errno(EIO, operation: "read (queue file ends inside its content)") }
        offset += Int64(n)
        return n
    }

    /// Closes the file (a lock's descriptor stays open: its lock owns it).
    /// Calling it again does nothing.
    public func close() {
        if owned { file?.close() }
        file = nil
    }
}
