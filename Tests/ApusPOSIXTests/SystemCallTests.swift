import ApusPOSIX
import Glibc
import Testing

/// `systemCall`: the one place that turns -1 + errno into a thrown ``Errno``.
@Suite struct SystemCallTests {
    @Test func successPassesTheResultThrough() throws {
        let value = try systemCall("answer") { Int32(42) }
        #expect(value == 42)
    }

    @Test func failureCarriesCodeOperationAndObject() {
        #expect {
            _ = try systemCall("open", "/no/such/file") { () -> Int32 in
                errno = ENOENT
                return -1
            }
        } throws: { error in
            let errno = error as? Errno
            return errno?.code == ENOENT && errno?.operation == "open" && errno?.object == "/no/such/file"
                && errno?.description == "open /no/such/file: No such file or directory"
        }
    }

    @Test func interruptedCallIsRetriedByDefault() throws {
        var calls = 0
        let value = try systemCall("read") { () -> Int in
            calls += 1
            if calls < 3 {
                errno = EINTR
                return -1
            }
            return 7
        }
        #expect(value == 7)
        #expect(calls == 3)
    }

    @Test func interruptedCallIsReportedWhenNotRetried() {
        var calls = 0
        #expect(throws: Errno(EINTR, operation: "poll")) {
            _ = try systemCall("poll", retryOnInterrupt: false) { () -> Int32 in
                calls += 1
                errno = EINTR
                return -1
            }
        }
        #expect(calls == 1)
    }

    @Test func objectIsOnlyBuiltOnFailure() throws {
        var built = 0
        func name() -> String {
            built += 1
            return "x"
        }
        _ = try systemCall("ok", name()) { Int32(0) }
        #expect(built == 0)
    }

    @Test func descriptionWithoutObject() {
        #expect(Errno(EACCES, operation: "flock").description == "flock: Permission denied")
        #expect(Errno(999_999, operation: "x").reason.isEmpty == false)
    }
}
