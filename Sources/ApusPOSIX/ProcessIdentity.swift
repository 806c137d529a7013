import CApusSystem
import Glibc

/// The process's group identity and hardening calls (setgid programs).
public enum ProcessIdentity {
    /// Sets the real, effective and saved group ids. The C function is `setresgid`.
    public static func setGroups(real: gid_t, effective: gid_t, saved: gid_t) throws(Errno) {
        _ = try systemCall("setresgid") { apus_setresgid(real, effective, saved) }
    }

    /// The real, effective and saved group ids. The C function is `getresgid`.
    public static func groups() -> (real: gid_t, effective: gid_t, saved: gid_t) {
        var r: gid_t = 0
        var e: gid_t = 0
        var s: gid_t = 0
        _ = apus_getresgid(&r, &e, &s)
        return (r, e, s)
    }

    /// Closes every descriptor from `first` up. The C call is `close_range`;
    /// returns false where the kernel lacks it.
    public static func closeDescriptors(from first: Int32) -> Bool {
        apus_close_range_from(UInt32(first)) == 0
    }

    /// Marks the process as not dumpable (no core file, no ptrace by the
    /// user). The C function is `prctl(PR_SET_DUMPABLE)`.
    public static func forbidCoreDumps() {
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &none)
        _ = apus_set_dumpable(0)
    }
}

extension ProcessIdentity {
    /// The program's arguments (`argv`, the program name first), as the
    /// process entry received them: saved by a constructor in CApusSystem, so
    /// they do not depend on `/proc` (Swift's `CommandLine.arguments` reads
    /// `/proc/self/cmdline` on Linux, and a chroot may have no `/proc`).
    /// Bytes that are not UTF-8 are repaired as `CommandLine` does. Falls back
    /// to `CommandLine.arguments` where the C library does not pass `argv` to
    /// constructors.
    public static func arguments() -> [String] {
        let count = apus_argument_count()
        guard count >= 0 else { return CommandLine.arguments }
        var result: [String] = []
        result.reserveCapacity(Int(count))
        for index in 0..<count {
            guard let argument = apus_argument(index) else { break }
            result.append(String(cString: argument))
        }
        return result
    }
}
