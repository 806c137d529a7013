import Glibc

/// A POSIX error number, with the operation and object it concerns.
///
/// Thrown by every wrapper in this module when a system call fails with an
/// ordinary error (swift-nio `IOError`): the message names the call, the object
/// (a path, an address) and `strerror`'s words.
public struct Errno: Error, Equatable, CustomStringConvertible, Sendable {
    /// The raw `errno` value.
    public var code: Int32
    /// The system call or operation that failed, for example `"open"`.
    public var operation: String
    /// What it was applied to (a path, an address), or empty.
    public var object: String

    /// Creates an error from a raw `errno` value.
    public init(_ code: Int32, operation: String, object: String = "") {
        self.code = code
        self.operation = operation
        self.object = object
    }

    /// The current thread's `errno`, tagged with `operation` and `object`.
    public static func current(_ operation: String, _ object: String = "") -> Errno {
        Errno(errno, operation: operation, object: object)
    }

    /// `strerror`'s text for the code, such as "Connection refused".
    public var reason: String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }

    /// "open /var/spool/apus: Permission denied".
    public var description: String {
        object.isEmpty ? "\(operation): \(reason)" : "\(operation) \(object): \(reason)"
    }
}

/// Runs a system call that returns -1 and sets `errno` on failure, turning that
/// into a thrown ``Errno``. With `retryOnInterrupt` an `EINTR` is retried
/// (swift-system `valueOrErrno(retryOnInterrupt:)`).
@inlinable
public func systemCall<T: FixedWidthInteger>(
    _ operation: String, _ object: @autoclosure () -> String = "",
    retryOnInterrupt: Bool = true, _ body: () -> T
) throws(Errno) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR && retryOnInterrupt { continue }
        throw Errno(code, operation: operation, object: object())
    }
}
