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

    func readData(_ store: QueueStore, _ id: QueueID) throws -> [UInt8] {
        let fd = try store.openData(id)
        return try fd.closeAfter { () throws(Errno) in try fd.readAll() }
    }

    @Test func writeAndReadBack() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let store = try dir.store()
        let content = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let id = try write(store, content)
        #expect(id.rawValue.count == 12)
        #expect(dir.names() == ["\(id).data", "\(id).env"])
        var expected = sampleEnvelope()
        expected.size = 200_000
        #expect(try store.loadEnvelope(id) == expected)
        #expect(try readData(store, id) == content)
        let status = try FileSystem.status(store.envelopePath(id))
        #expect(status.permissions == 0o660)
        #expect(try FileSystem.status(store.dataPath(id)).permissions == 0o660)
        let listing = try store.list()
        #expect(listing.entries.map(\.id) == [id])
        #expect(listing.entries[0].envelopeFileSize == Int(status.size))
    }

    @Test func groupIsSetOnNewFiles() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let store = try QueueStore(directory: dir.path, groupID: 12345, faults: .none)
        let id = try write(store, Array("hi\n".utf8))
        #expect(try FileSystem.status(store.dataPath(id)).groupID == 12345)
        #expect(try FileSystem.status(store.envelopePath(id)).groupID == 12345)
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
        for name in ["BBBBBBBBBBBB.tmp", "CCCCCCCCCCCC.envtmp", "DDDDDDDDDDDD.data", "junk.env", "x"] {
            try Data(sampleEnvelope().encode()).write(to: URL(fileURLWithPath: "\(dir.path)/\(name)"))
        }
        let listing = try store.list()
        #expect(listing.entries.map(\.id) == [good])
        #expect(listing.problems.map(\.id) == [incomplete])
        #expect(listing.problems[0].description.contains("AAAAAAAAAAAA.env: incomplete"))
        #expect(try store.tryLock(try #require(QueueID("DDDDDDDDDDDD"))) == nil)
    }

    static let failingPoints: [FaultPoint] = [.dataWrite, .dataSynced, .dataRenamed, .envelopeTemp, .envelopeRenamed]

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
        let store = try dir.store()
        let id = try write(store, Array("x".utf8))
        let lock = try #require(try store.tryLock(id))
        #expect(try store.tryLock(id) == nil)
        lock.release()
        let again = try #require(try store.tryLock(id))
        again.release()
    }

    @Test func lockHeldByADeadProcessIsReleased() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let store = try dir.store()
        let id = try write(store, Array("x".utf8))
        // The child takes the lock, then says so on a pipe: no polling.
        var ready: [Int32] = [-1, -1]
        #expect(pipe(&ready) == 0)
        let child = store.dataPath(id).withCString { path -> pid_t in
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
        let store = try dir.store()
        let id = try write(store, Array("x".utf8))
        let lock = try #require(try store.tryLock(id))
        var envelope = try store.loadEnvelope(id)
        envelope.recipients[0].state = .sent
        envelope.recordDeferral(error: "451 later", now: 100, policy: RetryPolicy(intervals: [60], lifetime: 1000))
        try store.update(envelope, for: lock)
        #expect(try store.loadEnvelope(id) == envelope)
        #expect(envelope.attempts == 1 && envelope.nextAttempt == 160)

        let failing = try dir.store(faults: FaultInjection(point: .updateTemp, action: .fail(EIO)))
        var changed = envelope
        changed.attempts = 9
        #expect(throws: Errno.self) { try failing.update(changed, for: lock) }
        #expect(try store.loadEnvelope(id) == envelope)
        #expect(dir.names() == ["\(id).data", "\(id).env"])
        lock.release()
    }

    @Test func removeUnderLock() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let store = try dir.store()
        let id = try write(store, Array("x".utf8))
        let lock = try #require(try store.tryLock(id))
        try store.remove(lock)
        #expect(!lock.isHeld)
        #expect(dir.names().isEmpty)
        #expect(try store.tryLock(id) == nil)
    }

    @Test func interruptedRemovalIsInvisibleAndSwept() throws {
        let dir = QueueTestDirectory()
        defer { dir.remove() }
        let store = try dir.store(faults: FaultInjection(point: .removeEnvelope, action: .fail(EIO)))
        let id = try write(store, Array("x".utf8))
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
