import ApusPOSIX
import ApusQueue
import Foundation
import Glibc
import Testing

@Suite struct QueueStoreTests {
    func write(_ store: QueueStore, _ content: [UInt8], _ envelope: Envelope = sampleEnvelope()) throws -> QueueID {
        let writer = try store.beginMessage()
        var offset = 0
        while offset < content.count {
            let end = min(content.count, offset + 1000)
            try writer.write(Array(content[offset..<end]))
            offset = end
        }
        return try writer.commit(envelope)
    }

    /// A store in `dir` holding one message with `content` (and `envelope`), and its id.
    func storeWithMessage(
        in dir: QueueTestDirectory, _ content: [UInt8], _ envelope: Envelope = sampleEnvelope()
    ) throws -> (QueueStore, QueueID) {
        let store = try dir.store()
        return (store, try write(store, content, envelope))
    }

    /// Like ``storeWithMessage(in:_:_:)``, with the message locked.
    func lockedMessage(in dir: QueueTestDirectory, _ content: [UInt8]) throws -> (QueueStore, QueueID, MessageLock) {
        let (store, id) = try storeWithMessage(in: dir, content)
        return (store, id, try #require(try store.tryLock(id)))
    }

    /// Takes the lock on `id` (it must be free) and lets it go.
    func expectLockable(_ store: QueueStore, _ id: QueueID, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let lock = try #require(try store.tryLock(id), sourceLocation: sourceLocation)
        lock.release()
    }

    /// While `lock` is held `store` cannot lock `id`; once `lock` is released, it can.
    func expectHandOver(
        _ lock: MessageLock, to store: QueueStore, _ id: QueueID, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        #expect(try store.tryLock(id) == nil, sourceLocation: sourceLocation)
        lock.release()
        try expectLockable(store, id, sourceLocation: sourceLocation)
    }

    func readData(_ store: QueueStore, _ id: QueueID) throws -> [UInt8] {
        let content = try store.openContent(id)
        defer { content.close() }
        var bytes: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { chunk.deallocate() }
        while true {
            let n = try content.read(into: chunk)
            if n == 0 { return bytes }
            bytes += chunk[0..<n]
        }
    }

    /// Writes a version-1 message (`.env` and `.data`) as an older apus did.
    func writeVersionOne(_ store: QueueStore, _ id: QueueID, _ content: [UInt8], _ envelope: Envelope) throws {
        try Data(content).write(to: URL(fileURLWithPath: store.dataPath(id)))
        try Data(envelope.encode()).write(to: URL(fileURLWithPath: store.envelopePath(id)))
    }

    func fileBytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    /// Under its lock a message is read through the lock's descriptor (no
    /// second open); closing the content leaves the lock's descriptor open.
    @Test func readThroughTheLock() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let content = Array("Subject: x\n\nbody\n".utf8)
        let (store, id) = try storeWithMessage(in: dir, content)
        guard case .locked(let lock) = try store.lock(id) else {
            Issue.record("not locked")
            return
        }
        defer { lock.release() }
        #expect(try store.loadEnvelope(for: lock) == store.loadEnvelope(id))
        for _ in 0..<2 {
            let reader = try store.openContent(for: lock)
            var bytes: [UInt8] = []
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 7, alignment: 1)
            defer { chunk.deallocate() }
            while case let n = try reader.read(into: chunk), n > 0 { bytes += chunk[0..<n] }
            reader.close()
            #expect(bytes == content)
        }
        #expect(lock.isHeld)
        #expect(try store.loadEnvelope(for: lock).recipients.count == 2)
        try store.remove(lock)
        #expect(dir.names().isEmpty)
    }

    @Test func writeAndReadBack() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let content = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let (store, id) = try storeWithMessage(in: dir, content)
        #expect(id.rawValue.count == 12)
        #expect(dir.names() == ["\(id).msg"])
        var expected = sampleEnvelope()
        expected.size = 200_000
        #expect(try store.loadEnvelope(id) == expected)
        #expect(try readData(store, id) == content)
        let status = try FileSystem.status(store.messagePath(id))
        #expect(status.permissions == 0o660)
        let listing = try store.list()
        #expect(listing.entries.map(\.id) == [id])
        #expect(listing.entries[0].envelopeFileSize == Int(status.size) - 32 - 200_000)
        // The layout of apus(8), QUEUE FILE FORMAT: header, content, one record.
        let bytes = try fileBytes(store.messagePath(id))
        #expect(String(decoding: bytes[0..<32], as: UTF8.self) == "apus-queue 2 000000000000200000\n")
        #expect(Array(bytes[32..<200_032]) == content)
        let record = String(decoding: bytes[200_032...], as: UTF8.self)
        #expect(record.hasPrefix("envelope 0000000") && record.hasSuffix("\nend\n"), "\(record)")
    }

    @Test func aSmallMessageIsOneWriteAndOneFsync() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let (store, id) = try storeWithMessage(in: dir, Array("Subject: x\n\nshort\n".utf8))
        #expect(try readData(store, id) == Array("Subject: x\n\nshort\n".utf8))
        #expect(try store.loadEnvelope(id).size == 18)
    }

    @Test func groupIsSetOnNewFiles() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let store = try QueueStore(directory: dir.path, groupID: 12345, faults: .none)
        let id = try write(store, Array("hi\n".utf8))
        #expect(try FileSystem.status(store.messagePath(id)).groupID == 12345)
    }

    @Test func abandonedWriterLeavesNothing() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let store = try dir.store()
        do {
            let writer = try store.beginMessage()
            try writer.write(Array(repeating: 65, count: 100_000))
            #expect(dir.names().count == 1)
        }
        #expect(dir.names().isEmpty)
        let writer = try store.beginMessage()
        writer.abort()
        #expect(dir.names().isEmpty)
    }

    @Test func readersSkipIncompleteAndTemporaryFiles() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let store = try dir.store()
        let good = try write(store, Array("x".utf8))
        let incomplete = try #require(QueueID("AAAAAAAAAAAA"))
        var text = sampleEnvelope().encode()
        text.removeLast(4)  // no "end\n"
        try Data(text).write(to: URL(fileURLWithPath: store.envelopePath(incomplete)))
        try Data("x".utf8).write(to: URL(fileURLWithPath: store.dataPath(incomplete)))
        for name in ["BBBBBBBBBBBB.tmp", "CCCCCCCCCCCC.envtmp", "DDDDDDDDDDDD.data", "junk.env", "junk.msg", "x"] {
            try Data(sampleEnvelope().encode()).write(to: URL(fileURLWithPath: "\(dir.path)/\(name)"))
        }
        let listing = try store.list()
        #expect(listing.entries.map(\.id) == [good])
        #expect(listing.problems.map(\.id) == [incomplete])
        #expect(listing.problems[0].description.contains("AAAAAAAAAAAA.env: incomplete"))
        #expect(try store.tryLock(try #require(QueueID("DDDDDDDDDDDD"))) == nil)
    }

    static let failingPoints: [FaultPoint] = [.dataWrite, .dataWritten, .messageSynced, .messageRenamed]

    @Test(arguments: failingPoints) func injectedENOSPCLeavesNothing(_ point: FaultPoint) throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let store = try dir.store(faults: FaultInjection(point: point, action: .fail(ENOSPC)))
        #expect {
            _ = try write(store, Array(repeating: 66, count: 150_000))
        } throws: { error in
            (error as? Errno)?.code == ENOSPC
        }
        #expect(dir.names().isEmpty)
        #expect(try store.list().entries.isEmpty)
    }

    @Test func realFullFileSystemLeavesNothing() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let mountPoint = dir.path + "/fs"
        try FileSystem.makeDirectory(mountPoint)
        defer { try? FileSystem.removeDirectory(mountPoint) }
        let mounted = mount("tmpfs", mountPoint, "tmpfs", 0, "size=64k") == 0
        // Without the privilege to mount, the fault point above covers ENOSPC.
        guard mounted else { return }
        defer { umount(mountPoint) }
        let store = try QueueStore(directory: mountPoint, faults: .none)
        #expect {
            _ = try write(store, Array(repeating: 67, count: 1 << 20))
        } throws: { error in
            (error as? Errno)?.code == ENOSPC
        }
        #expect(((try? FileSystem.contentsOfDirectory(mountPoint)) ?? ["?"]).isEmpty)
        // The space is back: a small message fits.
        let id = try write(store, Array("small".utf8))
        #expect(try store.list().entries.map(\.id) == [id])
        if let lock = try store.tryLock(id) { try store.remove(lock) }
    }

    @Test func secondLockAttemptFails() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let (store, id, lock) = try lockedMessage(in: dir, Array("x".utf8))
        try expectHandOver(lock, to: store, id)
    }

    @Test func lockHeldByADeadProcessIsReleased() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let (store, id) = try storeWithMessage(in: dir, Array("x".utf8))
        // The child takes the lock, then says so on a pipe: no polling.
        var ready: [Int32] = [-1, -1]
        #expect(pipe(&ready) == 0)
        let child = store.messagePath(id).withCString { path -> pid_t in
            let pid = fork()
            if pid == 0 {
                let fd = open(path, O_RDONLY)
                if flock(fd, LOCK_EX) == 0 { _ = Glibc.write(ready[1], "L", 1) }
                while true { pause() }
            }
            return pid
        }
        #expect(child > 0)
        close(ready[1])
        var byte: UInt8 = 0
        #expect(read(ready[0], &byte, 1) == 1, "the child did not take the lock")
        close(ready[0])
        #expect(try store.tryLock(id) == nil, "a lock held by a live process blocks")
        kill(child, SIGKILL)
        var status: Int32 = 0
        waitpid(child, &status, 0)
        let lock = try #require(try store.tryLock(id))
        #expect(try store.loadEnvelope(id).sender == "cron@host.example.com")
        lock.release()
    }

    @Test func updateReplacesEnvelopeAndKeepsItOnFailure() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let (store, id, lock) = try lockedMessage(in: dir, Array("x".utf8))
        var envelope = try store.loadEnvelope(id)
        envelope.recipients[0].state = .sent
        envelope.recordDeferral(error: "451 later", now: 100, policy: RetryPolicy(intervals: [60], lifetime: 1000))
        try store.update(envelope, for: lock)
        #expect(try store.loadEnvelope(id) == envelope)
        #expect(envelope.attempts == 1 && envelope.nextAttempt == 160)

        let failing = try dir.store(faults: FaultInjection(point: .updateAppended, action: .fail(EIO)))
        var changed = envelope
        changed.attempts = 9
        #expect(throws: Errno.self) { try failing.update(changed, for: lock) }
        // Appended but not synced: what the reader sees is then the new record;
        // a torn one (cut below) gives the last whole record back.
        let path = store.messagePath(id)
        let whole = try fileBytes(path)
        try Data(whole.dropLast(3)).write(to: URL(fileURLWithPath: path))
        #expect(try store.loadEnvelope(id) == envelope)
        // The next update cuts the torn record before appending its own.
        changed.attempts = 10
        try store.update(changed, for: lock)
        #expect(try store.loadEnvelope(id) == changed)
        #expect(dir.names() == ["\(id).msg"])
        lock.release()
    }

    @Test func theReaderTakesTheLastWholeRecordWhateverFollows() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let (store, id, lock) = try lockedMessage(in: dir, Array("Subject: x\n\nbody\n".utf8))
        defer { lock.release() }
        var envelope = try store.loadEnvelope(id)
        envelope.attempts = 1
        try store.update(envelope, for: lock)
        let path = store.messagePath(id)
        let good = try fileBytes(path)
        var next = envelope
        next.attempts = 2
        try store.update(next, for: lock)
        let appended = try fileBytes(path)
        // Every torn state of the last append (a prefix, zeros for unwritten
        // blocks, one flipped byte) reads as the record before it.
        for cut in stride(from: good.count, to: appended.count, by: 7) {
            try Data(appended[..<cut]).write(to: URL(fileURLWithPath: path))
            #expect(try store.loadEnvelope(id).attempts == 1, "cut at \(cut)")
        }
        try Data(good + [UInt8](repeating: 0, count: appended.count - good.count)).write(to: URL(fileURLWithPath: path))
        #expect(try store.loadEnvelope(id).attempts == 1)
        var flipped = appended
        flipped[appended.count - 10] ^= 0x01
        try Data(flipped).write(to: URL(fileURLWithPath: path))
        #expect(try store.loadEnvelope(id).attempts == 1)
        try Data(appended).write(to: URL(fileURLWithPath: path))
        #expect(try store.loadEnvelope(id).attempts == 2)
        // No whole record at all, or content cut short: corrupt, never guessed.
        try Data(good.prefix(50)).write(to: URL(fileURLWithPath: path))
        #expect(throws: EnvelopeFormatError.self) { try store.loadEnvelope(id) }
        try Data("apus-queue 9 000000000000000001\nx".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: EnvelopeFormatError.self) { try store.loadEnvelope(id) }
        #expect(try store.list().problems.map(\.isCorrupt) == [true])
    }

    @Test func manyUpdatesCompactTheFileAndKeepTheContent() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let content = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let (store, id) = try storeWithMessage(in: dir, content)
        let lock = try #require(try store.tryLock(id))
        var envelope = try store.loadEnvelope(id)
        var sizes: [Int64] = []
        for attempt in 1...400 {
            envelope.attempts = attempt
            envelope.lastError = String(repeating: "x", count: 300)
            try store.update(envelope, for: lock)
            sizes.append(try FileSystem.status(store.messagePath(id)).size)
        }
        #expect(try store.loadEnvelope(id) == envelope)
        #expect(try readData(store, id) == content)
        #expect(sizes.max()! < 100_032 + (64 << 10) + 2048, "records are compacted: \(sizes.max()!)")
        #expect(sizes.last! < sizes.max()!)
        #expect(dir.names() == ["\(id).msg"])
        // The lock moved to the rewritten file: another process cannot take it.
        let other = try dir.store()
        try expectHandOver(lock, to: other, id)
    }

    @Test func versionOneMessagesAreReadUpdatedAndRemovedAsTheyAre() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let store = try dir.store()
        let old = try #require(QueueID("0123456789AB"))
        var envelope = sampleEnvelope(arrival: 1_600_000_000)
        envelope.size = 12
        try writeVersionOne(store, old, Array("Subject: o\n\n".utf8), envelope)
        let new = try write(store, Array("Subject: n\n\n".utf8))
        let listing = try store.list()
        #expect(listing.entries.map(\.id) == [old, new])
        #expect(listing.entries[0].envelope == envelope)
        #expect(try readData(store, old) == Array("Subject: o\n\n".utf8))
        let lock = try #require(try store.tryLock(old))
        #expect(lock.format == .version1)
        #expect(try store.tryLock(old) == nil)
        var changed = envelope
        changed.attempts = 3
        try store.update(changed, for: lock)
        #expect(try store.loadEnvelope(old) == changed)
        #expect(dir.names() == ["0123456789AB.data", "0123456789AB.env", "\(new).msg"])
        try store.remove(lock)
        #expect(dir.names() == ["\(new).msg"])
    }

    @Test func removeUnderLock() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let (store, id, lock) = try lockedMessage(in: dir, Array("x".utf8))
        try store.remove(lock)
        #expect(!lock.isHeld)
        #expect(dir.names().isEmpty)
        #expect(try store.tryLock(id) == nil)
    }

    @Test func interruptedRemovalIsInvisibleAndSwept() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let store = try dir.store(faults: FaultInjection(point: .removeEnvelope, action: .fail(EIO)))
        let id = try #require(QueueID("0123456789AB"))
        try writeVersionOne(store, id, Array("x".utf8), sampleEnvelope())
        let lock = try #require(try store.tryLock(id))
        #expect(throws: Errno.self) { try store.remove(lock) }
        #expect(lock.isHeld, "a failed removal keeps the lock, so the caller can try again")
        lock.release()
        #expect(try store.list().entries.isEmpty)
        #expect(dir.names() == ["\(id).data"])
        try Data("partial".utf8).write(to: URL(fileURLWithPath: "\(dir.path)/ABCDEF012345.tmp"))
        #expect(try store.removeStaleFiles(olderThan: 3600, now: Int64(time(nil))) == 0)
        #expect(try store.removeStaleFiles(olderThan: -1, now: Int64(time(nil))) == 2)
        #expect(dir.names().isEmpty)
    }

    @Test func concurrentWritersGetUniqueIDs() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let store = try dir.store()
        let lock = NSLock()
        nonisolated(unsafe) var ids: [QueueID] = []
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for n in 0..<40 {
                let id = try? write(store, Array("worker \(worker) message \(n)\n".utf8))
                lock.lock()
                if let id { ids.append(id) }
                lock.unlock()
            }
        }
        #expect(ids.count == 320)
        #expect(Set(ids).count == 320)
        #expect(try store.list().entries.count == 320)
    }

    @Test func listingAHundredThousandEnvelopes() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let store = try dir.store()
        let count = 100_000
        let clock = ContinuousClock()
        let written = try clock.measure {
            for n in 0..<count {
                let id = try #require(QueueID(String(format: "%012X", n)))
                var envelope = sampleEnvelope(arrival: Int64(1_700_000_000 + n % 1000))
                envelope.nextAttempt = Int64(n)
                let fd = try FileDescriptor.open(store.envelopePath(id), O_WRONLY | O_CREAT | O_EXCL)
                try fd.closeAfter { () throws(Errno) in try fd.writeAll(envelope.encode()) }
            }
        }
        var listing = QueueListing(entries: [], problems: [])
        let listed = try clock.measure { listing = try store.list() }
        #expect(listing.entries.count == count)
        #expect(listing.problems.isEmpty)
        #expect(listing.select(.due(now: 49_999)).count == 50_000)
        print("queue: wrote \(count) envelopes in \(written), listed them in \(listed)")
    }
}
