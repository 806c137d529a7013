import ApusPOSIX
import Glibc

/// The lock that lets only one apus process at a time ask the token endpoint
/// for an account (config.md "OAuth2"): `flock(LOCK_EX)` on
/// `QUEUE_DIR/oauth2-HASH.lock`, beside the ``TokenCache`` file it guards.
///
/// Without it two processes that find the cached token expired both ask the
/// endpoint, and with refresh-token rotation the second sends a refresh token
/// the first has just made invalid. With it the second waits, then finds the
/// first one's token in the cache and asks nothing.
///
/// The file is created like the cache (mode 0660, the queue's group) and
/// never removed: removing it while another process waits on the old inode
/// would let two processes hold "the" lock. It stays empty. The lock belongs
/// to the open file description, so it is released when the holder closes it
/// or dies; a waiter gives up at its deadline, never hangs.
package struct TokenLock {
    /// What taking the lock came to.
    package enum Outcome {
        /// Held until ``TokenLock/release()`` (or the process ends).
        case held(TokenLock)
        /// The lock file cannot be opened or created, or `flock` fails (not
        /// "held by another"): the caller goes on without the lock, as before
        /// locks existed. The error says why.
        case unavailable(Errno)
        /// Another process held it until the deadline.
        case timedOut
    }

    /// The lock file.
    package let path: String
    private let descriptor: FileDescriptor

    /// Takes the lock on `path`, creating the file (mode 0660, `group` when
    /// set) when missing. When another process holds it, calls `waiting` once
    /// and tries again, after 1 ms and then after doubling pauses of at most
    /// 25 ms, until `deadline` (Linux has no `flock` with a timeout; a
    /// token request takes far longer than the pauses).
    package static func acquire(
        _ path: String, group: gid_t?, until deadline: Deadline, waiting: () -> Void
    ) -> Outcome {
        let descriptor: FileDescriptor
        do { descriptor = try open(path, group: group) } catch { return .unavailable(error) }
        var pause: UInt64 = 1_000_000
        var told = false
        while true {
            let taken: Bool
            do { taken = try descriptor.tryLockExclusive() } catch {
                descriptor.close()
                return .unavailable(error)
            }
            if taken { return .held(TokenLock(path: path, descriptor: descriptor)) }
            if !told {
                told = true
                waiting()
            }
            let left = deadline.nanoseconds &- Deadline.now.nanoseconds
            if deadline.hasPassed || left == 0 {
                descriptor.close()
                return .timedOut
            }
            var interval = timespec(tv_sec: 0, tv_nsec: Int(min(pause, left)))
            // An interrupted pause only makes the next try come sooner.
            _ = nanosleep(&interval, nil)
            pause = min(pause * 2, 25_000_000)
        }
    }

    /// Releases the lock (closing the descriptor releases it too). Call once.
    package func release() {
        descriptor.close()
    }

    /// Opens the lock file for reading (enough for `flock`, so a file made by
    /// another user of the group works), creating it with the cache's owner
    /// rules when missing.
    private static func open(_ path: String, group: gid_t?) throws(Errno) -> FileDescriptor {
        let created: FileDescriptor
        do {
            created = try FileDescriptor.open(path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o660)
        } catch  where error.code == EEXIST {
            return try FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        }
        do throws(Errno) {
            if let group { try created.changeGroup(group) }
            try created.changeMode(0o660)
        } catch {
            created.close()
            // Decided: the half-made file is removed so the next process
            // makes it again; failing to remove it changes nothing here (a
            // later open finds it and locks it as it is).
            _ = try? FileSystem.unlinkIfPresent(path)
            throw error
        }
        return created
    }
}
