import Glibc

extension FileDescriptor {
    /// Tries to take an exclusive advisory lock without waiting.
    ///
    /// The corresponding C call is `flock(fd, LOCK_EX | LOCK_NB)`. The lock
    /// belongs to the open file description: it is released by ``unlock()``, by
    /// closing every descriptor that shares it, or when the process dies.
    /// - Returns: true when the lock was taken, false when another open file
    ///   holds it ("would block").
    /// - Throws: ``Errno`` for any other failure.
    public func tryLockExclusive() throws(Errno) -> Bool {
        do throws(Errno) {
            _ = try systemCall("flock") { cFlock(rawValue, LOCK_EX | LOCK_NB) }
            return true
        } catch  where error.code == EWOULDBLOCK {
            return false
        }
    }

    /// Releases a lock taken with ``tryLockExclusive()``.
    /// The C call is `flock(fd, LOCK_UN)`.
    public func unlock() throws(Errno) {
        _ = try systemCall("flock") { cFlock(rawValue, LOCK_UN) }
    }
}

/// `flock(2)`, named apart from the `struct flock` of the same name.
private func cFlock(_ fd: Int32, _ operation: Int32) -> Int32 {
    let call: (Int32, Int32) -> Int32 = flock
    return call(fd, operation)
}
