import Glibc

/// The kernel's random source, in one place (queue ids, Message-IDs, boundaries).
package enum SystemRandom {
    /// Fills `buffer` from the kernel's random source, in blocks of 256 bytes.
    /// The C function is `getentropy` (the `getrandom` system call).
    /// - Returns: 0, or the `errno` of the failed call.
    package static func fill(_ buffer: UnsafeMutableRawBufferPointer) -> Int32 {
        guard let base = buffer.baseAddress else { return 0 }
        var offset = 0
        while offset < buffer.count {
            let n = min(256, buffer.count - offset)
            if getentropy(base + offset, n) != 0 { return errno }
            offset += n
        }
        return 0
    }
}
