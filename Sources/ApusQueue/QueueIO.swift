import ApusPOSIX
import Glibc

// Whole-buffer positional I/O and file identity for the queue, over ApusPOSIX's calls.

extension FileDescriptor {
    /// Reads exactly `count` bytes at `offset` (fewer only at end of file). `pread`.
    func read(count: Int, at offset: Int64) throws(Errno) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = try bytes.withUnsafeMutableBytes { raw in
                Result { () throws(Errno) in
                    try read(into: UnsafeMutableRawBufferPointer(rebasing: raw[done...]), at: offset + Int64(done))
                }
            }.get()
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
            done += try bytes.withUnsafeBytes { raw in
                Result { () throws(Errno) in
                    try write(UnsafeRawBufferPointer(rebasing: raw[done...]), at: offset + Int64(done))
                }
            }.get()
        }
    }

    /// The file's device and inode (`fstat`).
    func identity() throws(Errno) -> FileIdentity {
        let status = try status()
        return FileIdentity(device: status.device, inode: status.inode)
    }
}

/// Which file a name or descriptor refers to.
struct FileIdentity: Equatable {
    var device: UInt64
    var inode: UInt64

    /// The identity of the file at `path` (`lstat`, following no link: queue
    /// files are never links, and a link is not the message).
    static func of(_ path: String) throws(Errno) -> FileIdentity {
        let status = try FileSystem.linkStatus(path)
        return FileIdentity(device: status.device, inode: status.inode)
    }
}

/// A queued message's content, open for reading (``QueueStore/openContent(_:)``):
/// the part of a `.msg` file between its header and its records, or a whole
/// version-1 data file.
package final class QueueContent {
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
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        guard let file else { return 0 }
        var count = buffer.count
        if let end {
            count = Int(min(Int64(count), end - offset))
            if count == 0 { return 0 }
        }
        let n = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]), at: offset)
        if n == 0, end != nil { throw Errno(EIO, operation: "read (queue file ends inside its content)") }
        offset += Int64(n)
        return n
    }

    /// Closes the file (a lock's descriptor stays open: its lock owns it).
    /// Calling it again does nothing.
    package func close() {
        if owned { file?.close() }
        file = nil
    }
}
