import ApusPOSIX
import Glibc
import Testing

/// Running a program for its output: a size limit, a deadline, the group killed.
@Suite struct CollectOutputTests {
    func collect(_ script: String, limit: Int = 1 << 16, seconds: Double = 20) throws(OutputCollectionFailure) -> (
        exit: ProcessExit, output: [UInt8]
    ) {
        try SpawnedProcess.collectOutput(
            "/bin/sh", arguments: ["/bin/sh", "-c", script], environment: ["PATH=/usr/bin:/bin"], limit: limit,
            until: .after(seconds: seconds))
    }

    @Test func outputAndExitStatus() throws {
        let (ended, output) = try collect("printf 'one\\ntwo'; read x; echo \"[$x]\" >&2; exit 4")
        #expect(output == Array("one\ntwo".utf8))
        #expect(ended == ProcessExit(waitStatus: 4 << 8))
        // More than one pipe's worth arrives whole.
        let (_, large) = try collect("head -c 200000 /dev/zero", limit: 200_000)
        #expect(large.count == 200_000)
    }

    @Test func outputPastTheLimitKillsTheGroup() {
        #expect(throws: OutputCollectionFailure.tooLong) {
            _ = try collect("head -c 101 /dev/zero; exec sleep 30", limit: 100)
        }
        #expect(throws: Never.self) { _ = try collect("head -c 100 /dev/zero", limit: 100) }
    }

    @Test func theDeadlineKillsWhatTheProgramStarted() throws {
        let start = Deadline.now
        #expect(throws: OutputCollectionFailure.timedOut) {
            // The grandchild keeps the pipe open: the group kill must reach it.
            _ = try collect("sleep 30 & echo started; wait", seconds: 0.3)
        }
        let waited = Deadline.seconds(since: start)
        #expect(waited >= 0.3 && waited < 10)
    }

    @Test func aProgramThatCannotStartIsNotStarted() {
        #expect(throws: OutputCollectionFailure.notStarted(Errno(ENOENT, operation: "posix_spawn", object: "/no/such")))
        {
            _ = try SpawnedProcess.collectOutput(
                "/no/such", arguments: ["x"], environment: [], limit: 10, until: .after(seconds: 5))
        }
        #expect(OutputCollectionFailure.timedOut.description == "timed out")
        #expect(
            OutputCollectionFailure.notStarted(Errno(ENOENT, operation: "posix_spawn", object: "/no/such")).description
                == "posix_spawn /no/such: No such file or directory")
    }
}
