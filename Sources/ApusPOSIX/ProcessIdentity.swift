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
        var r: gid_t = 0, e: gid_t = 0, s: gid_t = 0
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
