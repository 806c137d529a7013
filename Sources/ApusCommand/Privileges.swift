import ApusDelivery
import ApusPOSIX
import Glibc

/// The setgid privilege model of security.md.
///
/// `apus` is installed setgid to the group `apus`, which may read
/// /etc/apus.conf and write the queue. It starts by ``harden()``, works with
/// the group only where it needs it, and gives it up for good
/// (``dropGroupForGood()``) when the caller names their own configuration.
package enum Privileges {
    /// The variables kept when running setgid; identity always comes from the real uid.
    package static let keptEnvironment: Set<String> = ["HOME", "USER", "LOGNAME", "TZ", "LANG"]
    /// The `PATH` set for children (`passwordeval`).
    package static let safePath = "/usr/bin:/bin"

    /// Whether the process runs with a group it was not started with (setgid).
    package static var isSetgid: Bool { getegid() != getgid() }

    /// Whether the caller is root (real uid 0).
    package static var callerIsRoot: Bool { getuid() == 0 }

    /// Makes the process safe to run for any user: the standard descriptors
    /// exist (opened on /dev/null when closed, so no file we open can become
    /// stdout), inherited descriptors above 2 are closed, umask 077, no core
    /// dumps, and — when setgid — the environment cut down to
    /// ``keptEnvironment`` plus a safe `PATH`.
    package static func harden() {
        for fd in Int32(0)...2 where fcntl(fd, F_GETFD) == -1 {
            _ = Glibc.open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY)
        }
        closeInheritedDescriptors()
        umask(0o077)
        ProcessIdentity.forbidCoreDumps()
        if isSetgid { cleanEnvironment() }
    }

    /// Closes every descriptor above 2. The C function is `close_range`, with
    /// a walk of /proc/self/fd where the kernel lacks it.
    static func closeInheritedDescriptors() {
        if ProcessIdentity.closeDescriptors(from: 3) { return }
        guard let dir = opendir("/proc/self/fd") else { return }
        var open: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if let fd = Int32(name), fd > 2 { open.append(fd) }
        }
        let own = dirfd(dir)
        closedir(dir)
        for fd in open where fd != own { _ = Glibc.close(fd) }
    }

    /// Removes every environment variable but ``keptEnvironment`` and sets `PATH`.
    static func cleanEnvironment() {
        var names: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") { names.append(String(text[..<eq])) }
            cursor += 1
        }
        for name in names where !keptEnvironment.contains(name) { unsetenv(name) }
        setenv("PATH", safePath, 1)
    }

    /// Gives up the setgid group for good: real, effective and saved group all
    /// become the caller's real group, and the change is checked (a setgid
    /// back to the old group must fail). Used before reading a `-C` file
    /// named by a caller other than root.
    package static func dropGroupForGood() throws(CommandFailure) {
        let real = getgid()
        let privileged = getegid()
        guard real != privileged else { return }
        do {
            try ProcessIdentity.setGroups(real: real, effective: real, saved: real)
        } catch {
            throw CommandFailure(.systemFailure, "cannot drop the apus group: \(error.reason)")
        }
        guard ProcessIdentity.groups() == (real, real, real), setegid(privileged) != 0 else {
            throw CommandFailure(.internal, "cannot drop the apus group: it could be regained")
        }
    }

    /// Runs `body` with the effective group switched to the caller's real
    /// group, and back after it: for files the caller names (`-X`,
    /// dead.letter), so they are the caller's and never reachable through the
    /// apus group.
    package static func asCaller<R>(_ body: () throws -> R) throws -> R {
        let privileged = getegid()
        let real = getgid()
        if privileged == real { return try body() }
        guard setegid(real) == 0 else {
            throw CommandFailure(
                .systemFailure, "cannot switch to the caller's group: \(Errno.current("setegid").reason)")
        }
        defer { _ = setegid(privileged) }
        return try body()
    }

    /// Opens a caller-named file for appending as the caller:
    /// `O_WRONLY|O_APPEND|O_CREAT|O_NOFOLLOW`, mode 0600.
    package static func openCallerFileForAppend(_ path: String) throws -> FileDescriptor {
        try asCaller {
            try FileDescriptor.open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, mode: 0o600)
        }
    }
}

/// Who called apus: from the real uid, never from the environment (which may
/// only supply names for messages when the password database has none).
package struct Caller: Sendable {
    /// The login name.
    package var login: String
    /// The full name from GECOS (up to the first comma), or empty.
    package var fullName: String
    /// The real uid.
    package var uid: uid_t

    /// The caller of this process. The C function is `getpwuid_r`.
    package static func current() -> Caller {
        let uid = getuid()
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var buffer = [CChar](repeating: 0, count: 4096)
        if getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil {
            let login = String(cString: entry.pw_name)
            let gecos = entry.pw_gecos.map { String(cString: $0) } ?? ""
            let full =
                gecos.split(separator: ",", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            return Caller(login: login, fullName: full.replacingAmpersand(with: login), uid: uid)
        }
        let fallback = getenv("LOGNAME").map { String(cString: $0) } ?? getenv("USER").map { String(cString: $0) }
        return Caller(login: fallback ?? "uid\(uid)", fullName: "", uid: uid)
    }
}

extension String {
    /// GECOS's `&` stands for the capitalised login name.
    fileprivate func replacingAmpersand(with login: String) -> String {
        guard contains("&") else { return self }
        let capitalised = login.prefix(1).uppercased() + login.dropFirst()
        return split(separator: "&", omittingEmptySubsequences: false).joined(separator: capitalised)
    }
}
