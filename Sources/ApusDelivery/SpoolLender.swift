import ApusSMTP

/// Lends a ``Spool``'s bytes to the SMTP engine (``MessageSource/lending(_:)``):
/// a spool in memory is encoded from its own storage, a spool on disk from a
/// 64 KiB window read into one reused buffer, so the body is not copied into
/// a fresh array per chunk on its way out.
package final class SpoolLender: LendingSource {
    private let spool: Spool
    /// The window of a spool on disk: `window[0..<windowCount]` holds the
    /// bytes from `windowStart`.
    private var window: UnsafeMutableRawBufferPointer? = nil
    private var windowStart = 0
    private var windowCount = 0

    package init(_ spool: Spool) { self.spool = spool }

    deinit { window?.deallocate() }

    package var count: Int { spool.count }

    package func withBytes(at offset: Int, _ body: (UnsafeRawBufferPointer) throws -> Int) throws -> Int {
        guard offset < spool.count else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        if !spool.isOnDisk {
            return try spool.withMemory { try body(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
        }
        let buffer: UnsafeMutableRawBufferPointer
        if let window {
            buffer = window
        } else {
            buffer = .allocate(byteCount: Spool.writeSize, alignment: 1)
            window = buffer
        }
        if offset < windowStart || offset >= windowStart + windowCount {
            windowCount = 0
            windowStart = offset
            windowCount = try spool.read(from: offset, into: buffer)
        }
        let start = offset - windowStart
        return try body(UnsafeRawBufferPointer(rebasing: buffer[start..<windowCount]))
    }
}
