import ApusPOSIX
import Glibc
import Testing

/// Starting and waiting for programs: the one posix_spawn wrapper.
@Suite struct SpawnedProcessTests {
    func shell(_ script: String, output: SpawnedProcess.Source = .null, group: Bool = false) throws -> SpawnedProcess {
        try SpawnedProcess.spawn(
            "/bin/sh", arguments: ["/bin/sh", "-c", script], environment: ["PATH=/usr/bin:/bin"],
            standardInput: .null, standardOutput: output, newProcessGroup: group)
    }

    @Test func exitStatusAndOutput() throws {
        let (readEnd, writeEnd) = try makePipe()
        defer { readEnd.close() }
        let child = try shell("printf 'hi %s' \"$PATH\"; exit 3", output: .descriptor(writeEnd.rawValue))
        writeEnd.close()
        #expect(try readEnd.readAll() == Array("hi /usr/bin:/bin".utf8))
        let ended = child.wait()
        #expect(ended == ProcessExit(waitStatus: 3 << 8))
        #expect(ended.code == 3 && ended.signal == 0)
        #expect(ended.description == "exited with status 3")
    }

    @Test func aDeadlineEndsTheWaitAndAKillIsReported() throws {
        let child = try shell("exec sleep 30")
        let start = Deadline.now
        #expect(child.wait(until: .after(seconds: 0.2)) == nil)
        let waited = Deadline.seconds(since: start)
        #expect(waited >= 0.2 && waited < 5)
        child.signal(SIGKILL)
        let ended = try #require(child.wait(until: .after(seconds: 10)))
        #expect(ended.signal == SIGKILL)
        #expect(ended.description == "killed by signal 9")
    }

    @Test func aWaitReturnsAsSoonAsTheChildEnds() throws {
        let child = try shell("exit 0")
        let start = Deadline.now
        #expect(child.wait(until: .after(seconds: 20))?.code == 0)
        #expect(Deadline.seconds(since: start) < 10)
    }

    /// With its own process group, a signal to the group reaches what the
    /// child started too (a passwordeval pipeline left running).
    @Test func aGroupSignalReachesGrandchildren() throws {
        let (readEnd, writeEnd) = try makePipe()
        defer { readEnd.close() }
        let child = try shell("sleep 30 & echo $!; wait", output: .descriptor(writeEnd.rawValue), group: true)
        writeEnd.close()
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while try withUnsafeMutableBytes(of: &byte, { buffer throws(Errno) in try readEnd.read(into: buffer) }) == 1,
            byte != 10
        {
            line.append(byte)
        }
        let grandchild = try #require(pid_t(String(decoding: line, as: UTF8.self)))
        #expect(getpgid(grandchild) == child.pid)
        child.signal(SIGKILL, group: true)
        #expect(child.wait(until: .after(seconds: 10))?.signal == SIGKILL)
        // The grandchild is gone (reaped by init) or dying: it no longer runs in the group.
        var gone = false
        for _ in 0..<200 where !gone {
            gone = kill(grandchild, 0) == -1 || getpgid(grandchild) != child.pid
            if !gone { usleep(10000) }
        }
        #expect(gone)
    }

    @Test func aMissingProgramIsAnErrorNamingIt() {
        #expect(throws: Errno(ENOENT, operation: "posix_spawn", object: "/no/such/program")) {
            _ = try SpawnedProcess.spawn("/no/such/program", arguments: ["x"], environment: [])
        }
    }
}
