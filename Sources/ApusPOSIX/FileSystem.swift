import ApusBase
import CApusSystem
import Glibc

/// What `stat` reports about a file, reduced to the fields apus uses.
public struct FileStatus: Equatable, Sendable {
    /// Size in bytes (`st_size`).
    public var size: Int64
    /// Permission and type bits (`st_mode`).
    public var mode: mode_t
    /// Owner (`st_uid`).
    public var userID: uid_t
    /// Group (`st_gid`).
    public var groupID: gid_t
    /// Last modification, Unix seconds (`st_mtim.tv_sec`).
    public var modificationTime: Int64
    /// The device holding the file (`st_dev`).
    public var device: UInt64
    /// The file's inode number on that device (`st_ino`).
    public var inode: UInt64

    /// Builds the value from a C `stat` structure.
    public init(_ raw: stat) {
        size = Int64(raw.st_size)
        mode = raw.st_mode
        userID = raw.st_uid
        groupID = raw.st_gid
        modificationTime = Int64(raw.st_mtim.tv_sec)
        device = UInt64(raw.st_dev)
        inode = UInt64(raw.st_ino)
    }

    /// Whether this is a directory (`S_ISDIR`).
    public var isDirectory: Bool { mode & S_IFMT == S_IFDIR }
    /// Whether this is a regular file (`S_ISREG`).
    public var isRegularFile: Bool { mode & S_IFMT == S_IFREG }
    /// The permission bits alone (`mode & 07777`).
    public var permissions: mode_t { mode & 0o7777 }
}

/// Thin throwing wrappers around the path-level calls the queue makes.
///
/// Each function names its C call; failures throw ``Errno`` naming the call and
/// the path, and `EINTR` is retried where the call can see it.
public enum FileSystem {
    /// Renames `source` to `destination`, atomically replacing it. The C function is `rename`.
    public static func rename(_ source: String, to destination: String) throws(Errno) {
        _ = try systemCall("rename", source) { Glibc.rename(source, destination) }
    }

    /// Removes a file. The C function is `unlink`.
    public static func unlink(_ path: String) throws(Errno) {
        _ = try systemCall("unlink", path) { Glibc.unlink(path) }
    }

    /// Removes a file if it is there; a missing file is not an error.
    public static func unlinkIfPresent(_ path: String) throws(Errno) {
        do throws(Errno) {
            try unlink(path)
        } catch  where error.code == ENOENT {
        }
    }

    /// Creates a directory with `mode` (the umask applies). The C function is `mkdir`.
    public static func makeDirectory(_ path: String, mode: mode_t = 0o700) throws(Errno) {
        _ = try systemCall("mkdir", path) { Glibc.mkdir(path, mode) }
    }

    /// Removes an empty directory. The C function is `rmdir`.
    public static func removeDirectory(_ path: String) throws(Errno) {
        _ = try systemCall("rmdir", path) { Glibc.rmdir(path) }
    }

    /// Status of `path`, following symbolic links. The C function is `stat`.
    public static func status(_ path: String) throws(Errno) -> FileStatus {
        var raw = stat()
        _ = try systemCall("stat", path) { cStat(path, &raw) }
        return FileStatus(raw)
    }

    /// Sets the group of `path` (the owner is left alone), following
    /// symbolic links. The C function is `chown`.
    public static func changeGroup(_ path: String, to group: gid_t) throws(Errno) {
        _ = try systemCall("chown", path) { Glibc.chown(path, uid_t.max, group) }
    }

    /// Sets the permission bits of `path`, whatever the umask, following
    /// symbolic links. The C function is `chmod`.
    public static func changeMode(_ path: String, to mode: mode_t) throws(Errno) {
        _ = try systemCall("chmod", path) { Glibc.chmod(path, mode) }
    }

    /// Creates and opens a new file named `prefix` followed by six random
    /// characters (`prefix` names its directory too), mode 0600, for reading
    /// and writing, close-on-exec. The C functions are `mkstemp` and `fcntl`.
    ///
    /// - Returns: the descriptor and the file's path.
    /// - Throws: ``Errno`` with the operation `mkstemp` and `prefix` + `XXXXXX`.
    public static func makeTemporaryFile(prefix: String) throws(Errno) -> (file: FileDescriptor, path: String) {
        let pattern = prefix + "XXXXXX"
        var template = Array(pattern.utf8CString)
        let fd = try template.withUnsafeMutableBufferPointer { buffer throws(Errno) in
            try systemCall("mkstemp", pattern) { buffer.baseAddress.map { mkstemp($0) } ?? -1 }
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return (
            FileDescriptor(rawValue: fd),
            String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        )
    }

    /// Status of `path` itself: a symbolic link is not followed. The C function is `lstat`.
    public static func linkStatus(_ path: String) throws(Errno) -> FileStatus {
        var raw = stat()
        let call: (UnsafePointer<CChar>, UnsafeMutablePointer<stat>) -> Int32 = lstat
        _ = try systemCall("lstat", path) { call(path, &raw) }
        return FileStatus(raw)
    }

    /// Whether `path` exists (`stat` succeeds). Errors other than `ENOENT` throw.
    public static func exists(_ path: String) throws(Errno) -> Bool {
        do throws(Errno) {
            _ = try status(path)
            return true
        } catch  where error.code == ENOENT {
            return false
        }
    }

    /// Flushes a directory's entries (creations, renames, removals) to the disk:
    /// opens it read-only and calls `fsync` on it.
    public static func syncDirectory(_ path: String) throws(Errno) {
        let fd = try FileDescriptor.open(path, O_RDONLY | O_DIRECTORY)
        try fd.closeAfter { () throws(Errno) in
            do throws(Errno) {
                try fd.sync()
            } catch {
                throw Errno(error.code, operation: "fsync", object: path)
            }
        }
    }

    /// The names in a directory, without `.` and `..`, in the order `readdir` gives.
    /// The C functions are `opendir`, `readdir` (the `getdents64` system call)
    /// and `closedir`. An `EINTR` from either starts the listing again from
    /// the top (a partial listing is never returned), like every other call.
    public static func contentsOfDirectory(_ path: String) throws(Errno) -> [String] {
        while true {
            guard let dir = opendir(path) else {
                if errno == EINTR { continue }
                throw Errno.current("opendir", path)
            }
            defer { closedir(dir) }
            var names: [String] = []
            var interrupted = false
            while true {
                errno = 0
                guard let entry = readdir(dir) else {
                    let code = errno
                    if code == EINTR {
                        interrupted = true
                        break
                    }
                    if code != 0 { throw Errno(code, operation: "readdir", object: path) }
                    return names
                }
                let name = withUnsafePointer(to: entry.pointee.d_name) { tuple in
                    tuple.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: tuple.pointee)) {
                        String(cString: $0)
                    }
                }
                if name != "." && name != ".." { names.append(name) }
            }
            precondition(interrupted)
        }
    }

    /// Fills `count` bytes from the kernel's random source. The C function is
    /// `getentropy` (the `getrandom` system call), called in blocks of 256 bytes.
    public static func randomBytes(_ count: Int) throws(Errno) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let code = bytes.withUnsafeMutableBytes { SystemRandom.fill($0) }
        if code != 0 { throw Errno(code, operation: "getentropy") }
        return bytes
    }
}

extension FileDescriptor {
    /// Status of the open file. The C function is `fstat`.
    public func status() throws(Errno) -> FileStatus {
        var raw = stat()
        _ = try systemCall("fstat") { cFstat(rawValue, &raw) }
        return FileStatus(raw)
    }

    /// Opens an unnamed regular file in `directory` for reading and writing:
    /// it has no name, so it goes when the last descriptor closes, even if the
    /// process dies. The C function is `open` with `O_TMPFILE` (and
    /// `O_CLOEXEC`); a file system without it fails with `EOPNOTSUPP`.
    ///
    /// - Throws: ``Errno`` with the operation `open` and `directory`.
    public static func openUnnamed(in directory: String, mode: mode_t = 0o600) throws(Errno) -> FileDescriptor {
        let fd = try systemCall("open", directory) { apus_open_tmpfile(directory, O_RDWR | O_CLOEXEC, mode) }
        return FileDescriptor(rawValue: fd)
    }

    /// Sets the file's group (the owner is left alone). The C function is `fchown`.
    public func changeGroup(_ group: gid_t) throws(Errno) {
        _ = try systemCall("fchown") { Glibc.fchown(rawValue, uid_t.max, group) }
    }

    /// Sets the file's owner and group. The C function is `fchown`.
    public func changeOwner(user: uid_t, group: gid_t) throws(Errno) {
        _ = try systemCall("fchown") { Glibc.fchown(rawValue, user, group) }
    }

    /// Sets the file's permission bits, whatever the umask. The C function is `fchmod`.
    public func changeMode(_ mode: mode_t) throws(Errno) {
        _ = try systemCall("fchmod") { Glibc.fchmod(rawValue, mode) }
    }
}

/// `stat(2)`, named apart from `struct stat`.
private func cStat(_ path: String, _ buffer: UnsafeMutablePointer<stat>) -> Int32 {
    let call: (UnsafePointer<CChar>, UnsafeMutablePointer<stat>) -> Int32 = stat
    return call(path, buffer)
}
/// `fstat(2)`.
private func cFstat(_ fd: Int32, _ buffer: UnsafeMutablePointer<stat>) -> Int32 {
    fstat(fd, buffer)
}
