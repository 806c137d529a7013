import ApusPOSIX
import Glibc

/// Small files written whole and atomically: a temporary file beside the
/// target (`O_CREAT|O_EXCL|O_NOFOLLOW`), given its owner, group and mode,
/// written, `fsync`ed, renamed over the target, and the directory `fsync`ed.
/// A crash leaves the old file or the new one, never a mix.
enum AtomicFile {
    /// Replaces `path` with `bytes`, giving the new file `mode` and, when set,
    /// `owner` and `group` (before any byte is written, so the secret is never
    /// readable by anyone the old file did not allow).
    ///
    /// - Throws: ``Errno`` naming the failing call; the temporary file is removed.
    static func replace(_ path: String, with bytes: [UInt8], mode: mode_t, owner: uid_t?, group: gid_t?) throws(Errno) {
        let directory = path.utf8.lastIndex(of: 0x2F).map { String(path[..<$0]) } ?? "."
        let name = path.utf8.lastIndex(of: 0x2F).map { String(path[path.utf8.index(after: $0)...]) } ?? path
        let random = (try? FileSystem.randomBytes(6)) ?? [UInt8(truncatingIfNeeded: getpid())]
        let suffix = random.map { String($0, radix: 16) }.joined()
        let temporary = "\(directory.isEmpty ? "" : directory)/.\(name).apus-\(suffix)"
        let fd = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
        do {
            try fd.closeAfter { () throws(Errno) in
                if let owner {
                    try fd.changeOwner(user: owner, group: group ?? gid_t.max)
                } else if let group {
                    try fd.changeGroup(group)
                }
                try fd.changeMode(mode)
                try fd.writeAll(bytes)
                try fd.sync()
            }
            try FileSystem.rename(temporary, to: path)
        } catch {
            try? FileSystem.unlinkIfPresent(temporary)
            throw error
        }
        try FileSystem.syncDirectory(directory.isEmpty ? "/" : directory)
    }

    /// The contents of the regular file `path` (at most `limit` bytes), or
    /// `nil` when it does not exist.
    ///
    /// - Throws: ``Errno`` (`EINVAL` for a file that is not regular, `EFBIG` past the limit).
    static func read(_ path: String, limit: Int) throws(Errno) -> (bytes: [UInt8], status: FileStatus)? {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW)
        } catch {
            if error.code == ENOENT { return nil }
            throw error
        }
        return try fd.closeAfter { () throws(Errno) -> (bytes: [UInt8], status: FileStatus) in
            let status = try fd.status()
            if !status.isRegularFile { throw Errno(EINVAL, operation: "open", object: path) }
            return (try fd.readAll(limit: limit), status)
        }
    }
}
