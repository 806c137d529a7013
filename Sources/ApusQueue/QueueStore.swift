// The queue directory.
//
//     queue_dir/                 root:apus 2770 (made by install.sh; see security.md)
//       4F2A9C01E3B7.msg         a queued message, format version 2 (QueueFile.swift):
//                                header, content, envelope records; one file
//       4F2A9C01E3B7.tmp         a message being written; created O_EXCL, it reserves the id
//       4F2A9C01E3B7.env         version 1 (apus before 2026-12): the envelope, and
//       4F2A9C01E3B7.data        the content beside it; still read, updated and
//       4F2A9C01E3B7.envtmp      removed, never written for a new message
//       .apus-spool-XXXXXX       a spooled message where O_TMPFILE is missing
//                                (unlinked at once; left only by a killed process)
//       corrupt/                 messages that cannot be read back, moved aside
//                                (2770 like the queue; made on first use)
//
// All files are created O_CREAT|O_EXCL mode 0660 (set with fchmod, whatever
// the umask) and, when the store has a group, fchown'd to it.
//
// Submission (QueueFileWriter): <id>.tmp is created and flock'd at once (the lock
// follows the file through its rename to <id>.msg and is held until the
// submitter has reported success or removed it, so a concurrent run never sends
// a message its submitter then reports as failed); header, content and the
// first envelope record are written, the file fsync'd, renamed to <id>.msg,
// the directory fsync'd: two fsyncs. Any failure removes the file, so nothing
// is left behind (the caller exits 75). A process killed half-way leaves at
// most <id>.tmp, never a visible message; ``QueueStore/sweep(olderThan:now:)``
// removes it (and `.apus-spool-*` leftovers, and version-1 temporaries) once
// it is ``QueueStore/staleAge`` old.
//
// Version 1 queues (an upgrade): their messages are read as they are, updated
// in their own format (envelope to <id>.envtmp, fsync, rename over <id>.env,
// directory fsync) and removed as before (envelope first); no migration, so
// no crash can lose one half-way. New messages are always version 2.
//
// Corrupt messages: a file that does not parse (an envelope or a version-2
// file without a valid record), is over-size or of an unknown version, or a
// version-1 envelope whose data file is gone, is moved to corrupt/ by a run,
// never retried, expired or swept.
//
// Readers list `*.msg` and `*.env` only and parse them as hostile input.
//
// Locking: a runner takes flock(LOCK_EX|LOCK_NB) on <id>.msg (version 1: on
// <id>.data, never replaced while the message lives), then checks the name
// still leads to the locked file (a compaction may have replaced it) and
// re-reads the envelope. "Would block" means another process has it; a runner
// that dies loses the lock with its descriptors and the message stays queued.
//
// Update (under the lock, version 2): a new envelope record is appended (after
// cutting a torn record left by a crash) and the file fsync'd. When the
// records pass ``QueueFile/compactionThreshold(recordSize:)`` the file is
// rewritten instead: <id>.tmp locked, written, fsync'd, renamed over <id>.msg,
// directory fsync'd. Removal (under the lock): unlink <id>.msg and fsync the
// directory (a run fsyncs it once after its removals: a removal lost in a
// crash leaves the whole message, sent once more; never a listed message
// without its content).

import ApusPOSIX
import Glibc

/// One queued message as listed: its id, envelope and the envelope file's size.
package struct QueueEntry: Equatable, Sendable {
    /// The message's id.
    package var id: QueueID
    /// Its parsed envelope.
    package var envelope: Envelope
    /// Bytes in the envelope file (with ``Envelope/size``, the message's disk use).
    package var envelopeFileSize: Int

    /// An entry.
    package init(id: QueueID, envelope: Envelope, envelopeFileSize: Int) {
        self.id = id
        self.envelope = envelope
        self.envelopeFileSize = envelopeFileSize
    }
}

/// An envelope that could not be read while listing, and why.
package struct QueueProblem: Equatable, Sendable, CustomStringConvertible {
    /// The message whose envelope failed.
    package var id: QueueID
    /// The error's text (an ``EnvelopeFormatError`` or ``Errno`` description).
    package var description: String
    /// Whether the envelope itself is bad (does not parse, over-size, unknown
    /// version): a run moves it to `corrupt/`. False for a failure to read it
    /// (`EIO`, `EACCES`), which may pass: the message stays where it is.
    package var isCorrupt: Bool

    /// A problem.
    package init(id: QueueID, description: String, isCorrupt: Bool = false) {
        self.id = id
        self.description = description
        self.isCorrupt = isCorrupt
    }
}

/// The result of ``QueueStore/list()``: readable entries, oldest first, and the
/// envelopes that could not be read (a bad file never hides the others).
package struct QueueListing: Equatable, Sendable {
    /// Messages with a valid envelope, by arrival time then id.
    package var entries: [QueueEntry]
    /// Envelopes that exist but are malformed or unreadable.
    package var problems: [QueueProblem]

    /// A listing.
    package init(entries: [QueueEntry], problems: [QueueProblem]) {
        self.entries = entries
        self.problems = problems
    }
}

/// The durable on-disk queue under one directory (layout at the top of this file).
///
/// A value: it holds only the directory, the group for new files and the
/// fault injection setting; every method goes to the disk. Safe to use from
/// several processes at once (ids are reserved with `O_EXCL`, messages locked
/// with `flock`). Methods throw ``Errno`` for system failures and
/// ``EnvelopeFormatError`` for malformed envelopes.
package struct QueueStore: Sendable {
    /// The queue directory (`queue_dir`).
    package let directory: String
    /// The group given to new files (the `apus` group), or nil to leave it.
    package let groupID: gid_t?
    /// Test-only faults (``FaultInjection/fromEnvironment`` by default).
    package let faults: FaultInjection

    /// Mode of every queue file.
    package static let fileMode: mode_t = 0o660
    /// Name of the subdirectory corrupt messages are moved to.
    package static let corruptDirectoryName = "corrupt"
    /// Age in seconds after which temporary files of dead processes are swept:
    /// one day, as Postfix's `postsuper` treats its temporary files.
    package static let staleAge: Int64 = 86400
    /// Largest envelope file read (a bigger one is corrupt); the writer never
    /// makes a larger one (``Envelope/maximumFileSize``).
    package static let envelopeLimit = Envelope.maximumFileSize

    /// Opens the queue at `directory`, which must exist and be a directory.
    /// - Parameters:
    ///   - directory: the queue directory.
    ///   - groupID: the group for new files (`fchown`), or nil.
    ///   - faults: fault points for tests.
    /// - Throws: ``Errno`` (`ENOENT`, `ENOTDIR`, `EACCES`…) naming the directory.
    package init(directory: String, groupID: gid_t? = nil, faults: FaultInjection = .fromEnvironment) throws(Errno) {
        let status = try FileSystem.status(directory)
        guard status.isDirectory else { throw Errno(ENOTDIR, operation: "open queue", object: directory) }
        self.directory = directory
        self.groupID = groupID
        self.faults = faults
    }

    /// Path of the message's file (format version 2).
    package func messagePath(_ id: QueueID) -> String { "\(directory)/\(id.rawValue).msg" }
    /// Path of a version-1 message's data file.
    package func dataPath(_ id: QueueID) -> String { "\(directory)/\(id.rawValue).data" }
    /// Path of a version-1 message's envelope file.
    package func envelopePath(_ id: QueueID) -> String { "\(directory)/\(id.rawValue).env" }
    /// Path of a message being written (or rewritten by a compaction).
    func tempPath(_ id: QueueID) -> String { "\(directory)/\(id.rawValue).tmp" }
    func envelopeTempPath(_ id: QueueID) -> String { "\(directory)/\(id.rawValue).envtmp" }
    /// The directory corrupt messages go to.
    package var corruptDirectory: String { "\(directory)/\(QueueStore.corruptDirectoryName)" }

    // MARK: Writing

    /// Starts a new message: reserves a fresh id and opens its temporary data file.
    /// Stream the content with ``QueueFileWriter/write(_:)-([UInt8])``, then
    /// ``QueueFileWriter/commit(_:)``; dropping the writer without commit removes everything.
    /// - Throws: ``Errno`` when the file cannot be created.
    package func beginMessage() throws(Errno) -> QueueFileWriter {
        for _ in 0..<100 {
            let id = try QueueID.random()
            let fd: FileDescriptor
            do throws(Errno) {
                fd = try createFile(tempPath(id))
            } catch  where error.code == EEXIST {
                continue
            }
            // A finished message with this id: a clash, pick another.
            let clash: Bool
            do throws(Errno) {
                let messageExists = try FileSystem.exists(messagePath(id))
                let envelopeExists = try FileSystem.exists(envelopePath(id))
                clash = messageExists || envelopeExists
            } catch {
                fd.close()
                try? FileSystem.unlink(tempPath(id))  // ours, empty, never visible: a leftover is swept
                throw error
            }
            if clash {
                fd.close()
                try? FileSystem.unlink(tempPath(id))  // ours, empty, never visible: a leftover is swept
                continue
            }
            // The message's lock, from the first byte until the submitter is done.
            do throws(Errno) {
                guard try fd.tryLockExclusive() else { throw Errno(EWOULDBLOCK, operation: "flock") }
            } catch {
                fd.close()
                try? FileSystem.unlink(tempPath(id))  // ours, empty, never visible: a leftover is swept
                throw Errno(error.code, operation: error.operation, object: tempPath(id))
            }
            return QueueFileWriter(store: self, id: id, file: fd)
        }
        throw Errno(EEXIST, operation: "create queue id", object: directory)
    }

    /// Creates `path` with `O_CREAT|O_EXCL|O_WRONLY` (`O_RDWR` when `readable`), mode 0660 and the store's group.
    func createFile(_ path: String, readable: Bool = false) throws(Errno) -> FileDescriptor {
        let access = readable ? O_RDWR : O_WRONLY
        let fd = try FileDescriptor.open(path, access | O_CREAT | O_EXCL | O_NOFOLLOW, mode: QueueStore.fileMode)
        do throws(Errno) {
            if let groupID { try fd.changeGroup(groupID) }
            try fd.changeMode(QueueStore.fileMode)
        } catch {
            fd.close()
            try? FileSystem.unlink(path)  // a temporary name, never visible: a leftover is swept
            throw Errno(error.code, operation: error.operation, object: path)
        }
        return fd
    }

    /// Writes a version-1 message's `envelope` to `<id>.envtmp`, fsyncs it and
    /// renames it to `<id>.env` (replacing it), then fsyncs the directory. `temp`/`renamed` are the fault points.
    func writeEnvelope(
        _ envelope: Envelope, id: QueueID, temp: FaultPoint, renamed: FaultPoint
    ) throws(Errno) {
        let tempPath = envelopeTempPath(id)
        let bytes = envelope.encode()
        // Never write what the reader would refuse (a message stuck for good).
        guard bytes.count <= Envelope.maximumFileSize else {
            throw Errno(EFBIG, operation: "write envelope", object: envelopePath(id))
        }
        try FileSystem.unlinkIfPresent(tempPath)
        let fd = try createFile(tempPath)
        do throws(Errno) {
            try fd.closeAfter { () throws(Errno) in
                do throws(Errno) {
                    try fd.writeAll(bytes)
                    try fd.sync()
                } catch {
                    throw Errno(error.code, operation: error.operation, object: tempPath)
                }
            }
            try faults.check(temp)
            try FileSystem.rename(tempPath, to: envelopePath(id))
        } catch {
            try? FileSystem.unlink(tempPath)  // a temporary name, never visible: a leftover is swept
            throw error
        }
        try faults.check(renamed)
        try FileSystem.syncDirectory(directory)
    }

    // MARK: Reading

    /// The ids of every visible message (a `.msg` file, or a version-1 `.env`
    /// file), unordered. Temporary and orphan files are skipped.
    /// - Throws: ``Errno`` when the directory cannot be read.
    package func messageIDs() throws(Errno) -> [QueueID] {
        var ids: [QueueID] = []
        var versionOne: [QueueID] = []
        for name in try FileSystem.contentsOfDirectory(directory) {
            if name.hasSuffix(".msg") {
                if let id = QueueID(String(name.dropLast(4))) { ids.append(id) }
            } else if name.hasSuffix(".env") {
                if let id = QueueID(String(name.dropLast(4))) { versionOne.append(id) }
            }
        }
        if !versionOne.isEmpty {
            // An id never has both (ids are reserved with O_EXCL and checked), but
            // should it, the one file is listed once.
            let seen = Set(ids)
            ids += versionOne.filter { !seen.contains($0) }
        }
        return ids
    }

    /// Reads and parses a message's envelope (never its content): the last
    /// valid record of its `.msg` file, or its version-1 `.env` file.
    /// - Returns: the envelope and the bytes of envelope records (version 2) or
    ///   of the envelope file (version 1).
    /// - Throws: ``Errno`` (`ENOENT` when the message is gone) or ``EnvelopeFormatError``.
    package func loadEnvelopeFile(_ id: QueueID) throws -> (envelope: Envelope, fileSize: Int) {
        let fd: FileDescriptor
        do throws(Errno) {
            fd = try FileDescriptor.open(messagePath(id), O_RDONLY | O_NOFOLLOW)
        } catch  where error.code == ENOENT {
            let path = envelopePath(id)
            let bytes = try readSmallFile(path, limit: QueueStore.envelopeLimit)
            return (try Envelope.decode(bytes, path: path), bytes.count)
        }
        defer { fd.close() }
        let scan = try scanMessage(fd, path: messagePath(id))
        return (scan.envelope, Int(scan.fileSize - scan.recordsStart))
    }

    /// What ``scanMessage(_:path:)`` found in a version-2 file.
    struct MessageScan {
        var envelope: Envelope
        var contentLength: Int64
        var recordsStart: Int64
        /// Where the valid records end (a torn append may follow).
        var validEnd: Int64
        var fileSize: Int64
    }

    /// Reads a version-2 file's header and records (never its content).
    /// - Throws: ``Errno`` (`EFBIG` for records past ``QueueFile/recordsLimit``)
    ///   or ``EnvelopeFormatError`` (not a version-2 file, content cut short, no valid record).
    func scanMessage(_ fd: FileDescriptor, path: String) throws -> MessageScan {
        do {
            let size = try fd.status().size
            let header = try fd.read(count: QueueFile.headerSize, at: 0)
            guard let length = QueueFile.contentLength(header: header[...]) else {
                throw EnvelopeFormatError(path: path, line: 0, reason: "not a version-2 queue file (bad header)")
            }
            let start = Int64(QueueFile.headerSize) + length
            guard start <= size else {
                throw EnvelopeFormatError(path: path, line: 0, reason: "content shorter than its header says")
            }
            guard size - start <= Int64(QueueFile.recordsLimit) else {
                throw Errno(EFBIG, operation: "read (records over \(QueueFile.recordsLimit) bytes)", object: path)
            }
            let region = try fd.read(count: Int(size - start), at: start)
            guard let (body, validEnd) = QueueFile.lastRecord(in: region[...]) else {
                throw EnvelopeFormatError(path: path, line: 0, reason: "no complete envelope record")
            }
            var envelope = try Envelope.decode(Array(region[body]), path: path)
            envelope.size = length
            return MessageScan(
                envelope: envelope, contentLength: length, recordsStart: start, validEnd: start + Int64(validEnd),
                fileSize: start + Int64(region.count))
        } catch let error as Errno {
            throw Errno(error.code, operation: error.operation, object: error.object.isEmpty ? path : error.object)
        }
    }

    /// Reads and parses a message's envelope (never its data).
    /// - Throws: ``Errno`` (`ENOENT` when the message is gone) or ``EnvelopeFormatError``.
    package func loadEnvelope(_ id: QueueID) throws -> Envelope {
        try loadEnvelopeFile(id).envelope
    }

    /// Reads and parses a locked message's envelope through the lock's
    /// descriptor (version 2; no second `open`, and it is the locked file).
    /// - Throws: ``Errno`` or ``EnvelopeFormatError``, as ``loadEnvelope(_:)``.
    package func loadEnvelope(for lock: MessageLock) throws -> Envelope {
        guard lock.format == .version2, let fd = lock.descriptor else { return try loadEnvelope(lock.id) }
        return try scanMessage(fd, path: messagePath(lock.id)).envelope
    }

    /// Every visible message with its envelope, oldest first (arrival, then id).
    /// A message removed while listing is skipped; a malformed or unreadable
    /// envelope goes to ``QueueListing/problems``.
    /// - Throws: ``Errno`` only when the directory itself cannot be read.
    package func list() throws(Errno) -> QueueListing {
        var entries: [QueueEntry] = []
        var problems: [QueueProblem] = []
        for id in try messageIDs() {
            do {
                let (envelope, size) = try loadEnvelopeFile(id)
                entries.append(QueueEntry(id: id, envelope: envelope, envelopeFileSize: size))
            } catch let error as Errno where error.code == ENOENT {
                continue
            } catch let error as Errno {
                problems.append(QueueProblem(id: id, description: error.description, isCorrupt: error.code == EFBIG))
            } catch {
                problems.append(QueueProblem(id: id, description: String(describing: error), isCorrupt: true))
            }
        }
        entries.sort {
            $0.envelope.arrivalTime != $1.envelope.arrivalTime
                ? $0.envelope.arrivalTime < $1.envelope.arrivalTime : $0.id < $1.id
        }
        problems.sort { $0.id < $1.id }
        return QueueListing(entries: entries, problems: problems)
    }

    /// Reads a whole small file: one `fstat`, one or two `read`s.
    func readSmallFile(_ path: String, limit: Int) throws(Errno) -> [UInt8] {
        let fd = try FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW)
        return try fd.closeAfter { () throws(Errno) -> [UInt8] in
            do throws(Errno) {
                let size = Int(try fd.status().size)
                guard size <= limit else { throw Errno(EFBIG, operation: "read (over \(limit) bytes)") }
                var bytes = [UInt8](repeating: 0, count: size + 1)
                var count = 0
                while true {
                    let n = try bytes.withUnsafeMutableBytes { buffer in
                        Result { () throws(Errno) -> Int in
                            try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[count...]))
                        }
                    }.get()
                    if n == 0 { break }
                    count += n
                    if count == bytes.count {
                        guard bytes.count <= limit else { throw Errno(EFBIG, operation: "read (over \(limit) bytes)") }
                        bytes.append(contentsOf: repeatElement(0, count: max(4096, bytes.count)))
                    }
                }
                bytes.removeSubrange(count...)
                return bytes
            } catch {
                throw Errno(error.code, operation: error.operation, object: path)
            }
        }
    }

    /// Opens a message's content for reading (``QueueContent/close()`` it):
    /// the content part of its `.msg` file, or a version-1 data file.
    /// - Throws: ``Errno``, or ``EnvelopeFormatError`` for a broken `.msg` header.
    package func openContent(_ id: QueueID) throws -> QueueContent {
        let fd: FileDescriptor
        do throws(Errno) {
            fd = try FileDescriptor.open(messagePath(id), O_RDONLY | O_NOFOLLOW)
        } catch  where error.code == ENOENT {
            let data = try FileDescriptor.open(dataPath(id), O_RDONLY | O_NOFOLLOW)
            return QueueContent(file: data, start: 0, length: nil)
        }
        do {
            let header = try fd.read(count: QueueFile.headerSize, at: 0)
            guard let length = QueueFile.contentLength(header: header[...]) else {
                throw EnvelopeFormatError(
                    path: messagePath(id), line: 0, reason: "not a version-2 queue file (bad header)")
            }
            return QueueContent(file: fd, start: Int64(QueueFile.headerSize), length: length)
        } catch {
            fd.close()
            throw error
        }
    }

    /// Opens a locked message's content for reading through the lock's
    /// descriptor (version 2; ``QueueContent/close()`` leaves it to the lock).
    /// - Throws: as ``openContent(_:)``.
    package func openContent(for lock: MessageLock) throws -> QueueContent {
        guard lock.format == .version2, let fd = lock.descriptor else { return try openContent(lock.id) }
        let header = try fd.read(count: QueueFile.headerSize, at: 0)
        guard let length = QueueFile.contentLength(header: header[...]) else {
            throw EnvelopeFormatError(
                path: messagePath(lock.id), line: 0, reason: "not a version-2 queue file (bad header)")
        }
        return QueueContent(file: fd, start: Int64(QueueFile.headerSize), length: length, owned: false)
    }

    // MARK: Locking, update, removal

    /// What ``lock(_:)`` found.
    package enum LockAttempt {
        /// The message is ours until the lock is released.
        case locked(MessageLock)
        /// Another process holds it (a runner, or its submitter still at work).
        case busy
        /// The message is no longer there (delivered and removed meanwhile).
        case gone
        /// The envelope is there but the data file is not: the message cannot
        /// be sent and is corrupt (``moveToCorrupt(_:)``).
        case dataMissing
    }

    /// Tries to lock a message for delivery without waiting.
    ///
    /// Takes `flock(LOCK_EX|LOCK_NB)` on the `.msg` file (version 1: the data
    /// file), then checks that the name still leads to the locked file (a
    /// runner may have removed the message, or compacted it, just before).
    /// Load the envelope after locking: that is the current one. A version-1
    /// data file that is missing while the envelope exists cannot be a removal
    /// in progress (removals take the envelope first): it is reported as such.
    /// - Throws: ``Errno`` for other failures (the message is left as it is).
    package func lock(_ id: QueueID) throws(Errno) -> LockAttempt {
        let path = messagePath(id)
        for _ in 0..<8 {
            let fd: FileDescriptor
            do throws(Errno) {
                fd = try FileDescriptor.open(path, O_RDWR | O_NOFOLLOW)
            } catch  where error.code == ENOENT {
                return try lockVersionOne(id)
            }
            do throws(Errno) {
                guard try fd.tryLockExclusive() else {
                    fd.close()
                    return .busy
                }
                let current: FileIdentity
                do throws(Errno) {
                    current = try FileIdentity.of(path)
                } catch  where error.code == ENOENT {
                    fd.close()
                    return .gone
                }
                guard current == (try fd.identity()) else {
                    fd.close()
                    continue  // replaced by a compaction meanwhile: lock the new file
                }
            } catch {
                fd.close()
                throw Errno(error.code, operation: error.operation, object: path)
            }
            return .locked(MessageLock(id: id, file: fd, format: .version2))
        }
        return .busy
    }

    /// ``lock(_:)`` for a version-1 message (lock on its data file).
    func lockVersionOne(_ id: QueueID) throws(Errno) -> LockAttempt {
        let fd: FileDescriptor
        do throws(Errno) {
            fd = try FileDescriptor.open(dataPath(id), O_RDONLY | O_NOFOLLOW)
        } catch  where error.code == ENOENT {
            return try FileSystem.exists(envelopePath(id)) ? .dataMissing : .gone
        }
        do throws(Errno) {
            guard try fd.tryLockExclusive() else {
                fd.close()
                return .busy
            }
            guard try FileSystem.exists(envelopePath(id)) else {
                fd.close()
                return .gone
            }
        } catch {
            fd.close()
            throw Errno(error.code, operation: error.operation, object: dataPath(id))
        }
        return .locked(MessageLock(id: id, file: fd, format: .version1))
    }

    /// ``lock(_:)`` reduced to the lock or nil (busy, gone, or without data).
    package func tryLock(_ id: QueueID) throws(Errno) -> MessageLock? {
        if case .locked(let lock) = try lock(id) { return lock }
        return nil
    }

    /// Moves a message that cannot be read back to `corrupt/` (made 0770, or
    /// 2770 with the store's group, on first use): its `.msg` file, or for
    /// version 1 the envelope first (the message is then invisible to runs and
    /// `mailq`), then the data file if there is one; then both directories are
    /// fsync'd. Call it under the message's lock when its file (version 1: its
    /// data file) exists. Nothing is deleted.
    /// - Returns: the new path of the `.msg` file or envelope.
    /// - Throws: ``Errno``; the message is then where it was (or half moved:
    ///   envelope in `corrupt/`, data left as an orphan that the sweep does not
    ///   take while it is locked, and later removes as an orphan).
    @discardableResult
    package func moveToCorrupt(_ id: QueueID) throws(Errno) -> String {
        let target = corruptDirectory
        do throws(Errno) {
            try FileSystem.makeDirectory(target, mode: 0o770)
            if let groupID {
                let fd = try FileDescriptor.open(target, O_RDONLY | O_DIRECTORY)
                try fd.closeAfter { () throws(Errno) in
                    try fd.changeGroup(groupID)
                    try fd.changeMode(0o2770)
                }
            }
        } catch  where error.code == EEXIST {
        }
        let movedMessage = "\(target)/\(id.rawValue).msg"
        do throws(Errno) {
            try FileSystem.rename(messagePath(id), to: movedMessage)
            try FileSystem.syncDirectory(target)
            try FileSystem.syncDirectory(directory)
            return movedMessage
        } catch  where error.code == ENOENT {
        }
        let movedEnvelope = "\(target)/\(id.rawValue).env"
        try FileSystem.rename(envelopePath(id), to: movedEnvelope)
        do throws(Errno) {
            try FileSystem.rename(dataPath(id), to: "\(target)/\(id.rawValue).data")
        } catch  where error.code == ENOENT {
        }
        try FileSystem.syncDirectory(target)
        try FileSystem.syncDirectory(directory)
        return movedEnvelope
    }

    /// How many messages wait in `corrupt/` (distinct ids); 0 when it does not exist.
    /// - Throws: ``Errno`` when it exists but cannot be read.
    package func corruptCount() throws(Errno) -> Int {
        let names: [String]
        do throws(Errno) {
            names = try FileSystem.contentsOfDirectory(corruptDirectory)
        } catch  where error.code == ENOENT {
            return 0
        }
        var ids = Set<Substring>()
        for name in names {
            if name.hasSuffix(".env") || name.hasSuffix(".msg") {
                ids.insert(name.dropLast(4))
            } else if name.hasSuffix(".data") {
                ids.insert(name.dropLast(5))
            }
        }
        return ids.count
    }

    /// Records a locked message's new envelope (after an attempt: recipient
    /// states, attempts, next attempt, last error). Version 2: a record
    /// appended and fsync'd (a torn one from a crash cut first), or past
    /// ``QueueFile/compactionThreshold(recordSize:)`` the whole file rewritten
    /// (temp, fsync, rename, directory fsync). Version 1: temp file, fsync,
    /// rename, directory fsync.
    /// - Throws: ``Errno``; the last valid record (or old envelope) stays the
    ///   current one when it fails.
    package func update(_ envelope: Envelope, for lock: MessageLock) throws(Errno) {
        precondition(lock.isHeld, "update without the message lock")
        guard lock.format == .version2, let fd = lock.descriptor else {
            try writeEnvelope(envelope, id: lock.id, temp: .updateTemp, renamed: .updateRenamed)
            return
        }
        let path = messagePath(lock.id)
        let body = envelope.encode()
        guard body.count <= Envelope.maximumFileSize else {
            throw Errno(EFBIG, operation: "write envelope", object: path)
        }
        let record = QueueFile.record(body)
        let scan: MessageScan
        do {
            scan = try scanMessage(fd, path: path)
        } catch let error as Errno {
            throw error
        } catch {
            // Locked and listed a moment ago, unreadable now: never written over.
            throw Errno(EIO, operation: "read queue file (\(error))", object: path)
        }
        let records = scan.validEnd - scan.recordsStart
        if records + Int64(record.count) > QueueFile.compactionThreshold(recordSize: record.count) {
            try compact(lock, fd: fd, contentLength: scan.contentLength, record: record)
            return
        }
        do throws(Errno) {
            if scan.validEnd != scan.fileSize { try fd.truncate(scan.validEnd) }
            try fd.write(record, at: scan.validEnd)
            try faults.check(.updateAppended)
            try fd.sync()
        } catch {
            throw Errno(error.code, operation: error.operation, object: path)
        }
    }

    /// Rewrites a locked version-2 message as header, content and one record:
    /// `<id>.tmp` created and locked, written, fsync'd, renamed over `<id>.msg`,
    /// directory fsync'd; the lock then moves to the new file.
    func compact(_ lock: MessageLock, fd: FileDescriptor, contentLength: Int64, record: [UInt8]) throws(Errno) {
        let temp = tempPath(lock.id)
        try FileSystem.unlinkIfPresent(temp)  // a dead compaction's: the message is locked by us
        let out = try createFile(temp, readable: true)
        do throws(Errno) {
            guard try out.tryLockExclusive() else { throw Errno(EWOULDBLOCK, operation: "flock", object: temp) }
            try out.writeAll(QueueFile.header(contentLength: contentLength))
            var offset = Int64(QueueFile.headerSize)
            let end = offset + contentLength
            while offset < end {
                let chunk = try fd.read(count: Int(min(1 << 20, end - offset)), at: offset)
                guard !chunk.isEmpty else {
                    throw Errno(EIO, operation: "read (content cut short)", object: messagePath(lock.id))
                }
                try out.writeAll(chunk)
                offset += Int64(chunk.count)
            }
            try out.writeAll(record)
            try out.sync()
            try faults.check(.updateTemp)
            try FileSystem.rename(temp, to: messagePath(lock.id))
        } catch {
            out.close()
            try? FileSystem.unlink(temp)  // a temporary name, never visible: a leftover is swept
            throw Errno(error.code, operation: error.operation, object: error.object.isEmpty ? temp : error.object)
        }
        lock.replace(with: out)
        try faults.check(.updateRenamed)
        try FileSystem.syncDirectory(directory)
    }

    /// Removes a delivered (or failed) message under its lock: its `.msg` file
    /// (version 1: envelope first, then data), then a directory fsync unless
    /// `syncDirectory` is false (then ``syncRemovals()`` must follow); then
    /// releases the lock.
    /// - Throws: ``Errno``; the lock is then still held, so the caller can try
    ///   again (every step is idempotent) before it lets the message go.
    package func remove(_ lock: MessageLock, syncDirectory: Bool = true) throws(Errno) {
        precondition(lock.isHeld, "remove without the message lock")
        if lock.format == .version2 {
            try FileSystem.unlinkIfPresent(messagePath(lock.id))
            try faults.check(.removeMessage)
        } else {
            try FileSystem.unlinkIfPresent(envelopePath(lock.id))
            try faults.check(.removeEnvelope)
            try FileSystem.unlinkIfPresent(dataPath(lock.id))
            try faults.check(.removeData)
        }
        if syncDirectory { try FileSystem.syncDirectory(directory) }
        lock.release()
    }

    /// Makes earlier removals durable (`fsync` of the directory). A queue
    /// run removes finished messages with `syncDirectory: false` and calls
    /// this once at the end: a removal lost in a crash leaves the whole
    /// message, which is then sent once more (at least once, never zero).
    package func syncRemovals() throws(Errno) {
        try FileSystem.syncDirectory(directory)
    }

    /// What ``sweep(olderThan:now:)`` did.
    package struct Sweep: Sendable {
        /// The names removed.
        package var removed: [String] = []
        /// Removals that failed (the file stays; the next run tries again).
        package var failures: [Errno] = []
    }

    /// Sweeps what killed processes leave: `.tmp` and `.envtmp` files,
    /// version-1 data files without an envelope, and `.apus-spool-*` files (the named spool
    /// used where `O_TMPFILE` is missing), last modified more than `age`
    /// seconds before `now` (runs use ``staleAge``). Locked `.tmp` and `.data`
    /// files are left alone (their process is still at work); `corrupt/` is never touched.
    /// - Throws: ``Errno`` when the directory cannot be read.
    package func sweep(olderThan age: Int64, now: Int64) throws(Errno) -> Sweep {
        let names = try FileSystem.contentsOfDirectory(directory)
        let envelopes = Set(names.filter { $0.hasSuffix(".env") }.map { $0.dropLast(4) })
        var result = Sweep()
        for name in names {
            let stem: Substring
            if name.hasPrefix(".apus-spool-") {
                stem = ""
            } else if name.hasSuffix(".tmp") {
                stem = name.dropLast(4)
            } else if name.hasSuffix(".envtmp") {
                stem = name.dropLast(7)
            } else if name.hasSuffix(".data") && !envelopes.contains(name.dropLast(5)) {
                stem = name.dropLast(5)
            } else {
                continue
            }
            guard stem.isEmpty || QueueID(String(stem)) != nil else { continue }
            let path = "\(directory)/\(name)"
            do throws(Errno) {
                let status = try FileSystem.status(path)
                guard status.isRegularFile, now - status.modificationTime > age else { continue }
                if name.hasSuffix(".data") || name.hasSuffix(".tmp") {
                    // An orphan or a data file being written: remove it only under its
                    // lock (a living submitter or runner holds it), and a data file only
                    // if it is still without envelope.
                    let fd = try FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW)
                    defer { fd.close() }
                    guard try fd.tryLockExclusive(), let id = QueueID(String(stem)) else { continue }
                    if name.hasSuffix(".data"), try FileSystem.exists(envelopePath(id)) { continue }
                    try FileSystem.unlink(path)
                } else {
                    try FileSystem.unlink(path)
                }
                result.removed.append(name)
            } catch  where error.code == ENOENT {
                continue  // removed meanwhile
            } catch {
                result.failures.append(error)
            }
        }
        if !result.removed.isEmpty {
            do throws(Errno) {
                try FileSystem.syncDirectory(directory)
            } catch {
                result.failures.append(error)
            }
        }
        return result
    }

    /// ``sweep(olderThan:now:)`` counting the files removed; throws the first failure.
    @discardableResult
    package func removeStaleFiles(olderThan age: Int64, now: Int64) throws(Errno) -> Int {
        let result = try sweep(olderThan: age, now: now)
        if let failure = result.failures.first { throw failure }
        return result.removed.count
    }
}
