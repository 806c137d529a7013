#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ApusPOSIX

/// A held lock on one queued message (``QueueStore/tryLock(_:)``).
///
/// Owns the descriptor of the message's data file that carries the `flock`;
/// released by ``release()``, on deinit, or when the process dies.
public final class MessageLock {
    /// The locked message.
    public let id: QueueID
    private var file: FileDescriptor?

    init(id: QueueID, file: FileDescriptor) {
        self.id = id
        self.file = file
    }

    /// Whether the lock is still held.
    public var isHeld: Bool { file != nil }

    /// Releases the lock (closes the descriptor). Calling it again does nothing.
    public func release() {
        guard let file else { return }
        try? file.unlock()
        file.close()
        self.file = nil
    }

    deinit { release() }
}

/// Streams a new message's data to the queue, then makes it visible with its
/// envelope (``QueueStore/beginMessage()``).
///
/// Bytes are buffered in 64 KiB blocks, so memory does not grow with the
/// message. Any failure in ``write(_:)-([UInt8])`` or ``commit(_:)`` removes every
/// file of the message before the error is thrown; so does ``abort()`` and
/// dropping an uncommitted writer. After a failure the writer is finished.
public final class MessageWriter {
    /// The id the message will have.
    public let id: QueueID
    /// Bytes written so far.
    public private(set) var byteCount: Int64 = 0
    private let store: QueueStore
    private var file: FileDescriptor?
    private var buffer: [UInt8] = []
    private var finished = false
    private static let blockSize = 65536

    init(store: QueueStore, id: QueueID, file: FileDescriptor) {
        self.store = store
        self.id = id
        self.file = file
        buffer.reserveCapacity(MessageWriter.blockSize)
    }

    deinit { abort() }

    /// Appends message bytes.
    /// - Throws: ``Errno`` (for example `ENOSPC`); the message is then abandoned and removed.
    public func write(_ bytes: [UInt8]) throws(Errno) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(Errno) in try write(raw) } }
        try result.get()
    }

    /// Appends message bytes from a buffer.
    /// - Throws: ``Errno``; the message is then abandoned and removed.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        precondition(!finished, "write after commit or failure")
        byteCount += Int64(bytes.count)
        if buffer.count + bytes.count < MessageWriter.blockSize {
            buffer.append(contentsOf: bytes)
            return
        }
        try failing { () throws(Errno) in
            try flush()
            if bytes.count >= MessageWriter.blockSize {
                try writeOut(bytes)
            } else {
                buffer.append(contentsOf: bytes)
            }
        }
    }

    /// Makes the message durable and visible: flushes and fsyncs the data,
    /// renames it into place, writes the envelope (its ``Envelope/size`` set to
    /// the bytes written) the same way, and fsyncs the directory.
    /// - Returns: the message's id.
    /// - Throws: ``Errno``; nothing of the message is left in the queue then.
    @discardableResult
    public func commit(_ envelope: Envelope) throws(Errno) -> QueueID {
        precondition(!finished, "commit twice or after failure")
        var envelope = envelope
        envelope.size = byteCount
        try failing { () throws(Errno) in
            try flush()
            guard let file else { return }
            do throws(Errno) {
                try file.sync()
            } catch {
                throw Errno(error.code, operation: error.operation, object: store.dataTempPath(id))
            }
            file.close()
            self.file = nil
            try store.faults.check(.dataSynced)
            try FileSystem.rename(store.dataTempPath(id), to: store.dataPath(id))
            try store.faults.check(.dataRenamed)
            try store.writeEnvelope(envelope, id: id, temp: .envelopeTemp, renamed: .envelopeRenamed)
        }
        finished = true
        return id
    }

    /// Abandons the message: closes and removes every file of it. Does nothing
    /// after a successful commit.
    public func abort() {
        guard !finished else { return }
        finished = true
        file?.close()
        file = nil
        try? FileSystem.unlinkIfPresent(store.envelopePath(id))
        try? FileSystem.unlinkIfPresent(store.envelopeTempPath(id))
        try? FileSystem.unlinkIfPresent(store.dataPath(id))
        try? FileSystem.unlinkIfPresent(store.dataTempPath(id))
        try? FileSystem.syncDirectory(store.directory)
    }

    private func failing(_ body: () throws(Errno) -> Void) throws(Errno) {
        do throws(Errno) {
            try body()
        } catch {
            abort()
            throw error
        }
    }

    private func flush() throws(Errno) {
        guard !buffer.isEmpty else { return }
        let result = buffer.withUnsafeBytes { raw in Result { () throws(Errno) in try writeOut(raw) } }
        try result.get()
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeOut(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        guard let file else { return }
        do throws(Errno) {
            try store.faults.check(.dataWrite)
            try file.writeAll(bytes)
        } catch {
            throw Errno(error.code, operation: "write", object: store.dataTempPath(id))
        }
    }
}
