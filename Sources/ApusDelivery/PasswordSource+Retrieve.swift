import ApusConfig
import ApusPOSIX
import Glibc

extension PasswordSource {
    /// The secret, fetched now (the command is run each time: once per connection).
    ///
    /// - `literal`: the value.
    /// - `file`: the first line (at most 64 KiB read, trailing CR removed),
    ///   opened with the process's current identity.
    /// - `command`: `/bin/sh -p -c COMMAND`, see ``PasswordCommand``.
    ///
    /// Returns `nil` for ``none``. Throws ``PasswordError`` when the file cannot
    /// be read, the command fails, or either yields an empty first line.
    package func retrieve(timeout: Double = 30) throws -> String? {
        switch self {
        case .none:
            return nil
        case .literal(let secret):
            return secret
        case .file(let path):
            let bytes: [UInt8]
            do {
                let fd = try FileDescriptor.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY)
                bytes = try fd.closeAfter { () throws(Errno) -> [UInt8] in
                    let status = try fd.status()
                    if !status.isRegularFile { throw Errno(EINVAL, operation: "open", object: path) }
                    return try fd.readAll(limit: PasswordCommand.outputLimit)
                }
            } catch {
                let reason = error.code == EINVAL ? "not a regular file" : error.reason
                throw PasswordError(.unreadable, message: "password_file \(path): \(reason)")
            }
            return try firstLine(of: bytes, source: "password_file \(path)")
        case .command(let command):
            let output = try PasswordCommand.run(command, timeout: timeout)
            return try firstLine(of: output, source: "passwordeval")
        }
    }
}

extension Account {
    /// The password or token for this account, fetched now: `password` as
    /// written, the first line of `password_file`, or the first line that
    /// `passwordeval` prints. `nil` when none is configured.
    ///
    /// - Parameter timeout: how long `passwordeval` may run, in seconds.
    /// - Throws: ``PasswordError`` (the command maps it to exit 71); its text
    ///   never holds the secret.
    package func retrievePassword(timeout: Double = 30) throws -> String? {
        try password.retrieve(timeout: timeout)
    }
}

/// The first line of `bytes` (without CR/LF) as UTF-8; an error naming
/// `source` when it is empty or not UTF-8.
func firstLine(of bytes: [UInt8], source: String) throws(PasswordError) -> String {
    var end = bytes.firstIndex(of: 0x0A) ?? bytes.count
    if end > 0 && bytes[end - 1] == 0x0D { end -= 1 }
    if end == 0 { throw PasswordError(.empty, message: "\(source): empty first line, no password") }
    guard let text = String(validating: bytes[..<end], as: UTF8.self), !text.utf8.contains(0) else {
        throw PasswordError(.empty, message: "\(source): the password is not UTF-8 text")
    }
    return text
}
