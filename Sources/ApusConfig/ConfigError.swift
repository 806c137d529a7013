import ApusBase

/// A fault in `/etc/apus.conf` or an aliases file: where it is and what is wrong.
///
/// One type for every configuration problem, so the command has one place that
/// turns it into its line and exit status 78 (`EX_CONFIG`). ``description`` is the
/// text after the program name: `/etc/apus.conf:12: unknown key 'hots'`, or
/// `/etc/apus.conf: Permission denied` for a fault with no line.
///
/// The message never holds a secret: values of `password`, `passwordeval` and
/// `password_file` are never quoted back, and other values are cut to 64
/// printable characters.
package struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong, for callers (and tests) that branch on it.
    package enum Kind: Equatable, Sendable {
        /// The file could not be opened or read (`errno` in ``ConfigError/message``).
        case unreadable
        /// The file is over the size limit, a line over the line limit, or not a regular file.
        case tooLarge
        /// A line that is not `KEY VALUE`: bad quoting, NUL or control bytes, invalid UTF-8.
        case syntax
        /// A key this file format does not have.
        case unknownKey
        /// A known key whose value is missing or not accepted.
        case badValue
        /// A known key where it may not stand (a host-wide key inside an account).
        case notAllowedHere
        /// A second `account` with the same name, or a second `account default` line.
        case duplicateAccount
        /// `account default : NAME` where no account is called NAME.
        case unknownAccount
        /// A setting that contradicts another (for instance `auth on` without `user`).
        case inconsistent
        /// An aliases file entry defined twice.
        case duplicateAlias
        /// The file holds `password` and is readable by "other".
        case insecurePermissions
        /// An alias target apus cannot deliver to (a pipe, a file, `:include:`);
        /// reported as a warning, see ``Aliases/warnings``.
        case unsupportedTarget
    }

    /// The kind of fault.
    package var kind: Kind
    /// The file, as it was named to the loader.
    package var file: String
    /// The 1-based line number, or 0 when the fault concerns the whole file.
    package var line: Int
    /// The key (or alias name) on that line, when there is one.
    package var key: String?
    /// One line of text saying what is wrong; never a secret.
    package var message: String

    /// Creates an error. `message` must already be free of secrets.
    package init(_ kind: Kind, file: String, line: Int, key: String? = nil, message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    /// `FILE:LINE: MESSAGE`, or `FILE: MESSAGE` when ``line`` is 0.
    package var description: String {
        line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
    }
}

/// Quotes a configuration value back in an error message: at most 64
/// characters, control characters shown as `?`.
func quoted(_ value: String) -> String {
    "'\(DisplayText.oneLine(value, limit: 64))'"
}
