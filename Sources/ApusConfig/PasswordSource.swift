import ApusPOSIX
import Glibc

/// Where an account's password (or OAuth token) comes from.
///
/// Its ``description`` never shows the secret: `password (set)`,
/// `password_file /run/x`, `passwordeval (set)` or `password (none)`.
public enum PasswordSource: Equatable, Sendable, CustomStringConvertible {
    /// No password configured.
    case none
    /// `password`: the secret as written in the file.
    case literal(String)
    /// `password_file`: the first line of this file.
    case file(String)
    /// `passwordeval`: the first line this shell command prints.
    case command(String)

    /// Whether a password is configured at all.
    public var isConfigured: Bool { self != .none }

    /// A redacted one-line summary, in apus.conf syntax.
    public var description: String {
        switch self {
        case .none: "password (none)"
        case .literal: "password (set)"
        case .file(let path): "password_file \(path)"
        case .command: "passwordeval (set)"
        }
    }

    /// The secret, fetched now (the command is run each time: once per connection).
    ///
    /// - `literal`: the value.
    /// - `file`: the first line (at most 64 KiB read, trailing CR removed),
    ///   opened with the process's current identity.
    /// - `command`: `/bin/sh -p -c COMMAND`, see ``PasswordCommand``.
    ///
    /// Returns `nil` for ``none``. Throws ``PasswordError`` when the file cannot
    /// be read, the command fails, or either yields an empty first line.
    public func retrieve(timeout: Double = 30) throws -> String? {
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

/// Why the password could not be fetched. The command maps it to exit 71
/// (`EX_OSERR`): the configuration is fine, the system failed.
///
/// ``description`` is one line such as `passwordeval: command exited with
/// status 1`; it never holds the secret or the command's output.
public struct PasswordError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What failed.
    public enum Kind: Equatable, Sendable {
        /// `password_file` could not be opened or read.
        case unreadable
        /// The command could not be started.
        case spawnFailed
        /// The command exited with a non-zero status or was killed by a signal.
        case commandFailed
        /// The command did not finish within the timeout (it was killed).
        case timedOut
        /// The command printed more than ``PasswordCommand/outputLimit`` bytes.
        case outputTooLong
        /// The first line was empty (or not UTF-8).
        case empty
    }

    /// What failed.
    public var kind: Kind
    /// One line saying so; never the secret.
    public var message: String

    /// Creates an error.
    public init(_ kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    /// ``message``.
    public var description: String { message }
}
