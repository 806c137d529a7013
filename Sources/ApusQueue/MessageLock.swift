import ApusPOSIX
import Glibc

/// The on-disk format of one queued message (QueueStore.swift, QueueFile.swift).
package enum QueueMessageFormat: Sendable {
    /// `<id>.env` and `<id>.data` (apus before queue format 2): read, updated, removed.
    case version1
    /// One `<id>.msg` file: what every new message is.
    case version2
}

/// A held lock on one queued message (``QueueStore/tryLock(_:)``).
///
/// Owns the descriptor that carries the `flock` (the `.msg` file, opened for
/// reading and writing; version 1: the data file); released by ``release()``,
/// on deinit, or when the process dies.
package final class MessageLock {
    /// The locked message.
    package let id: QueueID
    /// Its format.
    package let format: QueueMessageFormat
    private var file: FileDescriptor?

    init(id: QueueID, file: FileDescriptor, format: QueueMessageFormat) {
        self.id = id
        self.file = file
        self.format = format
    }

    /// The locked file's descriptor while held.
    var descriptor: FileDescriptor? { file }

    /// Moves the lock to `newFile` (already locked: a compaction's new file).
    func replace(with newFile: FileDescriptor) {
        file?.close()
        file = newFile
    }

    /// Whether the lock is still held.
    package var isHeld: Bool { file != nil }

    /// Releases the lock (closes the descriptor). Calling it again does nothing.
    package func release() {
        guard let file else { return }
        try? file.unlock()  // close() below releases it anyway: nothing to decide on failure
        file.close()
        self.file = nil
    }

    deinit { release() }
}

/// Streams a new message's content to the queue, then makes it visible with
/// its envelope, in one `<id>.msg` file (``QueueStore/beginMessage()``).
///
/// Bytes are buffered in 64 KiB blocks, so memory does not grow with the
/// message. Any failure in ``write(_:)-([UInt8])`` or ``commit(_:)`` removes every
/// file of the message before the error is thrown; so does ``abort()`` and
/// dropping an uncommitted writer. After a failure the writer is finished.
///
/// The writer holds the message's `flock` from the creation of its file
/// (the lock follows the file through its rename to `<id>.msg`) until
/// ``release()``, deinit or the end of the process: after ``commit(_:)`` until
/// the submitter has reported success, after a failure until every file is
/// removed. So a concurrent queue run never sends a message whose submitter
/// is about to report that it failed.
package final class QueueFileWriter {
    /// The id the message will have.
    package let id: QueueID
    /// Bytes written so far.
    package private(set) var byteCount: Int64 = 0
    private let store: QueueStore
    private var file: FileDescriptor?
    /// The descriptor carrying the lock (the data file's), open until ``release()``.
    private var lockFile: FileDescriptor?
    private var buffer: [UInt8] = []
    /// Whether the first block (which begins with the header) went to the file.
    private var flushed = false
    private var finished = false
    /// Why ``abort()`` could not remove every file, if it could not.
    package private(set) var removalFailure: Errno?
    private static let blockSize = 65536

    init(store: QueueStore, id: QueueID, file: FileDescriptor) {
        self.store = store
        self.id = id
        self.file = file
        self.lockFile = file
        buffer.reserveCapacity(QueueFileWriter.blockSize)
        // The header's place: filled in by commit() once the length is known.
        buffer.append(contentsOf: QueueFile.header(contentLength: 0))
    }

    deinit {
        abort()
        release()
    }

    /// Releases the message's lock (closes the data file). Call it once the
    /// success is reported; calling it again does nothing.
    package func release() {
        lockFile?.close()
        lockFile = nil
        file = nil
    }

    /// Appends message bytes.
    /// - Throws: ``Errno`` (for example `ENOSPC`); the message is then abandoned and removed.
    package func write(_ bytes: [UInt8]) throws(Errno) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(Errno) in try write(raw) } }
        try result.get()
    }

    /// Appends message bytes from a buffer.
    /// - Throws: ``Errno``; the message is then abandoned and removed.
    package func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) {
        precondition(!finished, "write after commit or failure")
        byteCount += Int64(bytes.count)
        if buffer.count + bytes.count < QueueFileWriter.blockSize {
            buffer.append(contentsOf: bytes)
            return
        }
        try failing { () throws(Errno) in
            try flush()
            if bytes.count >= QueueFileWriter.blockSize {
                try writeOut(bytes)
            } else {
                buffer.append(contentsOf: bytes)
            }
        }
    }

    /// Makes the message durable and visible: writes the header (the content's
    /// length) and the first envelope record (its ``Envelope/size`` set to the
    /// bytes written) after the content, fsyncs the file, renames it to
    /// `<id>.msg` and fsyncs the directory: two fsyncs.
    /// - Returns: the message's id.
    /// - Throws: ``Errno``; nothing of the message is left in the queue then.
    @discardableResult
    package func commit(_ envelope: Envelope) throws(Errno) -> QueueID {
        precondition(!finished, "commit twice or after failure")
        var envelope = envelope
        envelope.size = byteCount
        let path = store.tempPath(id)
        try failing { () throws(Errno) in
            let body = envelope.encode()
            // Never write what the reader would refuse (a message stuck for good).
            guard body.count <= Envelope.maximumFileSize else {
                throw Errno(EFBIG, operation: "write envelope", object: store.messagePath(id))
            }
            let header = QueueFile.header(contentLength: byteCount)
            let wroteFirstBlock = flushed
            if !wroteFirstBlock { buffer.replaceSubrange(0..<QueueFile.headerSize, with: header) }
            buffer.append(contentsOf: QueueFile.record(body))
            try flush()
            guard let file else { return }
            do throws(Errno) {
                if wroteFirstBlock { try file.write(header, at: 0) }
                try store.faults.check(.dataWritten)
                try file.sync()
            } catch {
                throw Errno(error.code, operation: error.operation, object: path)
            }
            self.file = nil  // stays open as lockFile: the lock is held on
            try store.faults.check(.messageSynced)
            try FileSystem.rename(path, to: store.messagePath(id))
            try store.faults.check(.messageRenamed)
            try FileSystem.syncDirectory(store.directory)
        }
        finished = true
        return id
    }

    /// Abandons the message: removes its file (`<id>.msg` first, so it is
    /// invisible at once, then `<id>.tmp`), each removal tried twice, then
    /// releases the lock. Does nothing after a successful commit. A removal
    /// that still fails is kept in ``removalFailure`` for the caller's message;
    /// the lock is then released too (a leftover temporary file is swept
    /// after ``QueueStore/staleAge``; a visible `.msg` is a queued message).
    package func abort() {
        guard !finished else { return }
        finished = true
        let paths = [store.messagePath(id), store.tempPath(id)]
        for path in paths {
            do throws(Errno) {
                try FileSystem.unlinkIfPresent(path)
            } catch {
                do throws(Errno) {
                    try FileSystem.unlinkIfPresent(path)
                } catch {
                    if removalFailure == nil { removalFailure = error }
                }
            }
        }
        do throws(Errno) {
            try FileSystem.syncDirectory(store.directory)
        } catch {
            // The names are gone from every reader's view; only a crash now could
            // bring back a file, which is then swept (never a visible message:
            // the rename to <id>.msg is the last step and its removal the first).
        }
        release()
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
        defer { flushed = true }
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
            throw Errno(error.code, operation: "write", object: store.tempPath(id))
        }
    }
}
