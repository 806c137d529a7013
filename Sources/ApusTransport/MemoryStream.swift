import ApusPOSIX
import Glibc

/// One end of an in-memory, connected pair of byte streams, for tests and for
/// running the SMTP engine without sockets (OCamlnet channels, Racket `#:tcp-connect`).
///
/// What one end writes the other reads, in order. Reads block (on a condition
/// variable) until bytes arrive, the peer closes (read returns 0) or the
/// ``timeout`` passes (``TransportError/timedOut(_:)``). Each direction can be
/// given a capacity: a write then blocks while the peer has not read enough,
/// so a peer that never reads turns into a write timeout, as over TCP.
///
/// Both ends may be used from different threads; one end should be used by
/// one thread at a time.
///
/// ```
/// let (client, server) = MemoryStream.pair()
/// ```
public final class MemoryStream: ByteStream, @unchecked Sendable {
    private let incoming: MemoryPipe
    private let outgoing: MemoryPipe
    private let lock = PThreadLock()
    private var storedTimeout: Double

    /// Seconds a read or write may wait.
    public var timeout: Double {
        get { lock.withLock { storedTimeout } }
        set { lock.withLock { storedTimeout = newValue } }
    }

    /// Always nil: an in-memory stream is plain text.
    public var tlsSession: TLSSessionInfo? { nil }

    /// The description given at creation (default `"memory"`).
    public let peerDescription: String

    /// As given at creation (default true, like a local peer).
    public let isLoopback: Bool

    private init(incoming: MemoryPipe, outgoing: MemoryPipe, timeout: Double, peer: String, loopback: Bool) {
        self.incoming = incoming
        self.outgoing = outgoing
        self.storedTimeout = timeout
        self.peerDescription = peer
        self.isLoopback = loopback
    }

    /// Creates two connected ends.
    ///
    /// - Parameters:
    ///   - timeout: each end's initial timeout in seconds.
    ///   - capacity: how many unread bytes each direction holds before a write
    ///     blocks (default: unbounded).
    ///   - isLoopback: what both ends report as ``isLoopback`` (AUTH PLAIN in
    ///     clear is only allowed to loopback).
    ///   - peerDescription: what both ends report as ``peerDescription``.
    /// - Returns: the two ends; conventionally (client, server).
    public static func pair(
        timeout: Double = 30, capacity: Int = Int.max, isLoopback: Bool = true,
        peerDescription: String = "memory"
    ) -> (MemoryStream, MemoryStream) {
        let aToB = MemoryPipe(capacity: capacity)
        let bToA = MemoryPipe(capacity: capacity)
        let a = MemoryStream(
            incoming: bToA, outgoing: aToB, timeout: timeout, peer: peerDescription, loopback: isLoopback)
        let b = MemoryStream(
            incoming: aToB, outgoing: bToA, timeout: timeout, peer: peerDescription, loopback: isLoopback)
        return (a, b)
    }

    /// Reads at least one byte, or returns 0 once the peer has closed and every
    /// byte has been read. Throws ``TransportError/timedOut(_:)`` when nothing
    /// arrives in time.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try incoming.read(into: buffer, deadline: .after(seconds: timeout))
    }

    /// Writes every byte; throws ``TransportError/io(_:)`` (`EPIPE`) when the
    /// peer has closed, or a timeout when the peer does not read in time.
    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        try outgoing.write(buffer, deadline: .after(seconds: timeout))
    }

    /// How many times ``write(_:)`` has been called on this end (to check that
    /// a client groups its commands into few writes).
    public var writeCount: Int { outgoing.writeCalls }

    /// Closes both directions: the peer reads what is left and then end of
    /// stream; its writes fail. Idempotent.
    public func close() {
        outgoing.close()
        incoming.close()
    }
}

/// A `pthread_mutex_t` on the heap (so it never moves).
final class PThreadLock: @unchecked Sendable {
    let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// One direction of a ``MemoryStream`` pair: a byte queue, a mutex and a
/// condition variable on the monotonic clock.
final class MemoryPipe: @unchecked Sendable {
    private let lock = PThreadLock()
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var closed = false
    private var calls = 0
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        condition = .allocate(capacity: 1)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    var writeCalls: Int { lock.withLock { calls } }

    /// Waits on the condition until `deadline`; false when it has passed.
    private func wait(until deadline: Deadline) -> Bool {
        if deadline.hasPassed { return false }
        var ts = timespec(
            tv_sec: Int(deadline.nanoseconds / 1_000_000_000), tv_nsec: Int(deadline.nanoseconds % 1_000_000_000))
        _ = pthread_cond_timedwait(condition, lock.mutex, &ts)
        return true
    }

    func read(into target: UnsafeMutableRawBufferPointer, deadline: Deadline) throws -> Int {
        if target.count == 0 { return 0 }
        return try lock.withLock {
            while buffer.count - readIndex == 0 {
                if closed { return 0 }
                if !wait(until: deadline) { throw TransportError.timedOut("reading from memory stream") }
            }
            let n = min(target.count, buffer.count - readIndex)
            buffer.withUnsafeBytes { source in
                target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[readIndex..<(readIndex + n)]))
            }
            readIndex += n
            if readIndex == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                readIndex = 0
            } else if readIndex > 65536 && readIndex * 2 > buffer.count {
                buffer.removeFirst(readIndex)
                readIndex = 0
            }
            pthread_cond_broadcast(condition)
            return n
        }
    }

    func write(_ source: UnsafeRawBufferPointer, deadline: Deadline) throws {
        try lock.withLock {
            calls += 1
            var offset = 0
            while offset < source.count {
                if closed { throw TransportError.io(Errno(EPIPE, operation: "write", object: "memory stream")) }
                let room = capacity - (buffer.count - readIndex)
                if room <= 0 {
                    if !wait(until: deadline) { throw TransportError.timedOut("writing to memory stream") }
                    continue
                }
                let n = min(room, source.count - offset)
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + n)]))
                offset += n
                pthread_cond_broadcast(condition)
            }
        }
    }

    func close() {
        lock.withLock {
            closed = true
            pthread_cond_broadcast(condition)
        }
    }
}
