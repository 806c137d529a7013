import Foundation

/// A fresh directory under `/tmp` (made by `mkdtemp`), removed with all its
/// contents when the value is released.
///
/// ```
/// let dir = try TemporaryDirectory()
/// try dir.write("apus.conf", "host 127.0.0.1\n")
/// ```
package final class TemporaryDirectory: @unchecked Sendable {
    /// The absolute path of the directory.
    package let path: String

    /// Creates `<parent>/<prefix>.XXXXXX` (parent `/tmp` by default) with mode 0700.
    ///
    /// - Throws: `CocoaError` / POSIX error when `mkdtemp` fails.
    package init(prefix: String = "apus-test", in parent: String = "/tmp") throws {
        var template = Array("\(parent)/\(prefix).XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
            return String(cString: result)
        }
        guard let made else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        path = made
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// The directory as a file URL.
    package var url: URL { URL(fileURLWithPath: path, isDirectory: true) }

    /// The path of `name` inside the directory (nothing is created).
    package func file(_ name: String) -> String { path + "/" + name }

    /// Writes `contents` to `name` (parent directories must exist), replacing it.
    @discardableResult
    package func write(_ name: String, _ contents: String, mode: Int = 0o644) throws -> String {
        try write(name, Array(contents.utf8), mode: mode)
    }

    /// Writes bytes to `name`, replacing it, and sets its permission bits.
    ///
    /// The file is opened with `O_CLOEXEC`: a process that another test
    /// forks meanwhile (a Postfix master, a client) must not inherit the
    /// write descriptor, or executing the file (a `sendmail` wrapper) fails
    /// with "Text file busy" for as long as that process lives.
    @discardableResult
    package func write(_ name: String, _ contents: [UInt8], mode: Int = 0o644) throws -> String {
        let target = file(name)
        let fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        var offset = 0
        while offset < contents.count {
            let n = contents[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
            offset += n
        }
        guard fchmod(fd, mode_t(mode)) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return target
    }

    /// Reads the bytes of `name`.
    package func read(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: file(name))))
    }

    /// Creates the subdirectory `name` (and missing parents); returns its path.
    @discardableResult
    package func makeDirectory(_ name: String, mode: Int = 0o700) throws -> String {
        let target = file(name)
        try FileManager.default.createDirectory(
            atPath: target, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        return target
    }

    /// The names in the directory (or in its subdirectory `name`), sorted.
    package func contents(of name: String? = nil) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: name.map(file) ?? path).sorted()
    }

    /// Makes the symbolic link `name` pointing at `target`; returns its path.
    @discardableResult
    package func symlink(_ name: String, to target: String) throws -> String {
        let link = file(name)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        return link
    }
}
