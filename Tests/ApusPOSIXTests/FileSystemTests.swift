import ApusPOSIX
import Glibc
import Testing

/// Path-based calls: each error names its operation and path.
@Suite struct FileSystemTests {
    @Test func renameReplacesAndUnlinkRemoves() throws {
        let directory = try ScratchDirectory()
        let a = directory.path + "/a"
        let b = directory.path + "/b"
        try directory.write("a", "first")
        try directory.write("b", "second")
        try FileSystem.rename(a, to: b)
        #expect(try FileSystem.exists(a) == false)
        #expect(try directory.read("b") == "first")
        try FileSystem.unlink(b)
        #expect(try FileSystem.exists(b) == false)
        #expect(throws: Errno(ENOENT, operation: "unlink", object: b)) { try FileSystem.unlink(b) }
        try FileSystem.unlinkIfPresent(b)
        #expect(throws: Errno(ENOENT, operation: "rename", object: a)) { try FileSystem.rename(a, to: b) }
    }

    @Test func makeDirectoryHonoursTheModeAndRefusesAnExistingOne() throws {
        let directory = try ScratchDirectory()
        let sub = directory.path + "/sub"
        let old = umask(0)
        defer { umask(old) }
        try FileSystem.makeDirectory(sub, mode: 0o750)
        let status = try FileSystem.status(sub)
        #expect(status.isDirectory)
        #expect(status.permissions == 0o750)
        #expect(throws: Errno(EEXIST, operation: "mkdir", object: sub)) { try FileSystem.makeDirectory(sub) }
        try FileSystem.syncDirectory(sub)
        try FileSystem.removeDirectory(sub)
        #expect(try FileSystem.exists(sub) == false)
        #expect(throws: Errno(ENOENT, operation: "open", object: sub)) { try FileSystem.syncDirectory(sub) }
    }

    @Test func statusReportsOwnerModeAndSize() throws {
        let directory = try ScratchDirectory()
        try directory.write("f", "12345")
        let path = directory.path + "/f"
        chmod(path, 0o640)
        let status = try FileSystem.status(path)
        #expect(status.size == 5)
        #expect(status.permissions == 0o640)
        #expect(status.userID == geteuid())
        #expect(status.isRegularFile && !status.isDirectory)
        #expect(throws: Errno(ENOENT, operation: "stat", object: path + "x")) {
            _ = try FileSystem.status(path + "x")
        }
    }

    @Test func existsTellsAbsenceFromOtherErrors() throws {
        let directory = try ScratchDirectory()
        try directory.write("file", "x")
        #expect(try FileSystem.exists(directory.path + "/file"))
        #expect(try FileSystem.exists(directory.path + "/none") == false)
        // A path through a regular file is ENOTDIR: an error, not "absent".
        #expect(throws: Errno(ENOTDIR, operation: "stat", object: directory.path + "/file/x")) {
            _ = try FileSystem.exists(directory.path + "/file/x")
        }
    }

    @Test func contentsOfDirectoryListsEveryNameButDots() throws {
        let directory = try ScratchDirectory()
        let names = (0..<300).map { "entry-\($0)" }
        for name in names { try directory.write(name, "") }
        #expect(try FileSystem.contentsOfDirectory(directory.path).sorted() == names.sorted())
        #expect(throws: Errno(ENOENT, operation: "opendir", object: directory.path + "/none")) {
            _ = try FileSystem.contentsOfDirectory(directory.path + "/none")
        }
    }

    @Test func randomBytesAreFreshEachTime() throws {
        let a = try FileSystem.randomBytes(1000)
        let b = try FileSystem.randomBytes(1000)
        #expect(a.count == 1000)
        #expect(a != b)
        #expect(Set(a).count > 100)
    }

    @Test func descriptorChangesModeWhateverTheUmask() throws {
        let directory = try ScratchDirectory()
        let old = umask(0o077)
        defer { umask(old) }
        let fd = try FileDescriptor.open(directory.path + "/m", O_WRONLY | O_CREAT, mode: 0o660)
        try fd.closeAfter { () throws(Errno) in
            #expect(try fd.status().permissions == 0o600)
            try fd.changeMode(0o660)
            try fd.changeGroup(getegid())
            #expect(try fd.status().permissions == 0o660)
            #expect(try fd.status().groupID == getegid())
        }
    }
}

/// `flock` locks belong to the open file description.
@Suite struct FileLockTests {
    @Test func secondOpenCannotTakeTheLockUntilTheFirstLetsGo() throws {
        let directory = try ScratchDirectory()
        try directory.write("lock", "")
        let path = directory.path + "/lock"
        let first = try FileDescriptor.open(path, O_RDWR)
        let second = try FileDescriptor.open(path, O_RDWR)
        defer { second.close() }
        #expect(try first.tryLockExclusive())
        #expect(try second.tryLockExclusive() == false)
        try first.unlock()
        #expect(try second.tryLockExclusive())
        try second.unlock()
        #expect(try first.tryLockExclusive())
        first.close()  // closing releases it
        #expect(try second.tryLockExclusive())
    }

    @Test func lockOnAClosedDescriptorIsAnError() throws {
        let fd = try FileDescriptor.open("/dev/null", O_RDONLY)
        fd.close()
        #expect(throws: Errno(EBADF, operation: "flock")) { _ = try fd.tryLockExclusive() }
    }
}
