import ApusDelivery

/// The exit statuses apus uses, from sysexits.h (cli.md "Exit status").
/// Only ApusCommand decides them: a failure says what happened
/// (``CommandFailure/Kind``), ``ApusCommand/exitStatus(for:)`` maps it.
package enum ExitStatus: Int32, Sendable {
    /// Delivered, or durably queued.
    case ok = 0
    /// EX_USAGE: bad command line; no recipients at all.
    case usage = 64
    /// EX_DATAERR: the input cannot be sent (bad address, unfixable header, too large).
    case dataError = 65
    /// EX_NOUSER: the relay refused one or more recipients permanently.
    case noUser = 67
    /// EX_UNAVAILABLE: the relay refused the message permanently.
    case unavailable = 69
    /// EX_SOFTWARE: an internal error.
    case software = 70
    /// EX_OSERR: the local system failed (fork, exec).
    case osError = 71
    /// EX_IOERR: reading input or a queue file failed.
    case ioError = 74
    /// EX_TEMPFAIL: temporary failure and the message could not be queued.
    case tempFail = 75
    /// EX_PROTOCOL: the relay broke the protocol and the message could not be queued.
    case protocolError = 76
    /// EX_NOPERM: the caller may not do this.
    case noPermission = 77
    /// EX_CONFIG: configuration error.
    case config = 78
}
