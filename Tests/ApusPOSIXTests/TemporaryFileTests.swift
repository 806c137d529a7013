import ApusPOSIX
import Glibc
import Testing

/// The calls a spool and the queue directory set-up make: positional reads,
/// temporary files, a path's group and mode. Errors name the call and the path.
@Suite struct TemporaryFileTests {
    @Test func positionalReadLeavesTheOffsetAlone() throws {
        let directory = try ScratchDirectory()
        try directory.write("f", "0123456789")
        let fd = try FileDescriptor.open(directory.path + "/f", O_RDONLY)
        try fd.closeAfter { () throws(Errno) in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4, alignment: 1)
            defer { buffer.deallocate() }
            #expect(try fd.read(into: buffer, at: 3) == 4)
            #expect(Array(buffer) == Array("3456".utf8))
            #expect(try fd.read(into: buffer, at: 8) == 2)
            #expect(Array(buffer[0..<2]) == Array("89".utf8))
            #expect(try fd.read(into: buffer, at: 10) == 0)
            // The plain read still starts at 0.
            #expect(try fd.read(into: buffer) == 4)
            #expect(Array(buffer) == Array("0123".utf8))
        }
        let (readEnd, writeEnd) = try makePipe()
        defer {
            readEnd.close()
            writeEnd.close()
        }
        var byte: UInt8 = 0
        #expect(throws: Errno(ESPIPE, operation: "pread")) {
            _ = try withUnsafeMutableBytes(of: &byte) { buffer throws(Errno) in try readEnd.read(into: buffer, at: 0) }
        }
    }

    @Test func positionalWriteAndTruncate() throws {
        let directory = try ScratchDirectory()
        try directory.write("f", "0123456789")
        let fd = try FileDescriptor.open(directory.path + "/f", O_RDWR)
        try fd.closeAfter {
            let written = try Array("ab".utf8).withUnsafeBytes { raw in try fd.write(raw, at: 4) }
            #expect(written == 2)
            try fd.truncate(8)
            #expect(try fd.status().size == 8)
            try fd.truncate(12)
            #expect(try fd.status().size == 12)
        }
        #expect(try directory.read("f") == "0123ab67\0\0\0\0")
        let readOnly = try FileDescriptor.open(directory.path + "/f", O_RDONLY)
        defer { readOnly.close() }
        #expect(throws: Errno(EBADF, operation: "pwrite")) {
            _ = try Array("x".utf8).withUnsafeBytes { raw in try readOnly.write(raw, at: 0) }
        }
        #expect(throws: Errno(EINVAL, operation: "ftruncate")) { try readOnly.truncate(0) }
    }

    @Test func linkStatusDoesNotFollowTheLinkAndIdentityMatches() throws {
        let directory = try ScratchDirectory()
        try directory.write("target", "x")
        let target = directory.path + "/target"
        let link = directory.path + "/link"
        #expect(symlink(target, link) == 0)
        let followed = try FileSystem.status(link)
        let own = try FileSystem.linkStatus(link)
        #expect(followed.isRegularFile)
        #expect(own.mode & S_IFMT == S_IFLNK)
        #expect(own.inode != followed.inode)
        let fd = try FileDescriptor.open(target, O_RDONLY)
        try fd.closeAfter { () throws(Errno) in
            let open = try fd.status()
            #expect(open.device == followed.device && open.inode == followed.inode)
        }
        #expect(throws: Errno(ENOENT, operation: "lstat", object: link + "x")) {
            _ = try FileSystem.linkStatus(link + "x")
        }
    }

    @Test func unnamedFileHasNoName() throws {
        let directory = try ScratchDirectory()
        let fd = try FileDescriptor.openUnnamed(in: directory.path)
        try fd.closeAfter { () throws(Errno) in
            try fd.writeAll(Array("spooled".utf8))
            #expect(try fd.status().isRegularFile)
            #expect(try fd.status().permissions == 0o600)
            #expect(fcntl(fd.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        }
        #expect(try FileSystem.contentsOfDirectory(directory.path).isEmpty)
        let missing = directory.path + "/none"
        #expect(throws: Errno(ENOENT, operation: "open", object: missing)) {
            _ = try FileDescriptor.openUnnamed(in: missing)
        }
    }

    @Test func temporaryFileGetsAFreshNameEachTime() throws {
        let directory = try ScratchDirectory()
        let prefix = directory.path + "/.spool-"
        let (first, firstPath) = try FileSystem.makeTemporaryFile(prefix: prefix)
        let (second, secondPath) = try FileSystem.makeTemporaryFile(prefix: prefix)
        defer {
            first.close()
            second.close()
        }
        #expect(firstPath != secondPath)
        #expect(firstPath.hasPrefix(prefix) && firstPath.utf8.count == prefix.utf8.count + 6)
        #expect(try FileSystem.status(firstPath).permissions == 0o600)
        #expect(fcntl(first.rawValue, F_GETFD) & FD_CLOEXEC != 0)
        try first.writeAll(Array("x".utf8))
        #expect(try FileSystem.status(firstPath).size == 1)
        let missing = directory.path + "/none/t-"
        #expect(throws: Errno(ENOENT, operation: "mkstemp", object: missing + "XXXXXX")) {
            _ = try FileSystem.makeTemporaryFile(prefix: missing)
        }
    }

    @Test func pathGroupAndModeWhateverTheUmask() throws {
        let directory = try ScratchDirectory()
        let old = umask(0o077)
        defer { umask(old) }
        let sub = directory.path + "/queue"
        try FileSystem.makeDirectory(sub, mode: 0o770)
        #expect(try FileSystem.status(sub).permissions == 0o700)
        try FileSystem.changeGroup(sub, to: getegid())
        try FileSystem.changeMode(sub, to: 0o2770)
        let status = try FileSystem.status(sub)
        #expect(status.permissions == 0o2770)
        #expect(status.groupID == getegid())
        #expect(status.userID == geteuid())
        let missing = directory.path + "/none"
        #expect(throws: Errno(ENOENT, operation: "chown", object: missing)) {
            try FileSystem.changeGroup(missing, to: getegid())
        }
        #expect(throws: Errno(ENOENT, operation: "chmod", object: missing)) {
            try FileSystem.changeMode(missing, to: 0o700)
        }
    }
}
