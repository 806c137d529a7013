internal import COpenSSL

/// The system OpenSSL as apus reaches it: through the `COpenSSL` shim, which
/// `dlopen`s `libssl.so.3` and `libcrypto.so.3` the first time ``load()`` runs.
///
/// Nothing else in apus names OpenSSL's conventions: this file turns
/// `SSL_get_error` into ``IOResult`` and drains the error queue into text.
enum TLSLibrary {
    /// Loads OpenSSL once per process; later calls are free.
    ///
    /// - Throws: ``TransportError/tlsUnavailable(_:)`` naming the missing
    ///   library or symbol (the process goes on without TLS).
    static func load() throws {
        if apus_openssl_load() == 0 {
            throw TransportError.tlsUnavailable(String(cString: apus_openssl_load_error()))
        }
    }

    /// What `SSL_get_error` says about a TLS call's result.
    enum IOResult: Equatable {
        /// The call succeeded.
        case done
        /// Not finished: OpenSSL needs bytes from the peer.
        case wantRead
        /// Not finished: OpenSSL has bytes to send first (memory BIOs never block, so a flush suffices).
        case wantWrite
        /// The peer sent close_notify.
        case closed
        /// A protocol or library failure; the error queue says more.
        case failed
        /// A failure below TLS (with memory BIOs: the peer's bytes ended).
        case syscall

        /// Classifies the return value `ret` of an `SSL_*` call on `ssl`.
        init(ssl: OpaquePointer, ret: Int32) {
            switch Int(apus_SSL_get_error(ssl, ret)) {
            case APUS_SSL_ERROR_NONE: self = .done
            case APUS_SSL_ERROR_WANT_READ: self = .wantRead
            case APUS_SSL_ERROR_WANT_WRITE: self = .wantWrite
            case APUS_SSL_ERROR_ZERO_RETURN: self = .closed
            case APUS_SSL_ERROR_SYSCALL: self = .syscall
            default: self = .failed
            }
        }
    }

    /// One entry of OpenSSL's per-thread error queue.
    struct QueuedError {
        /// The packed error code.
        var code: UInt
        /// The reason part of `ERR_error_string_n`, such as "certificate verify failed".
        var reason: String
        /// `ERR_GET_REASON(code)`.
        var reasonCode: Int32
    }

    /// Empties OpenSSL's error queue for this thread and returns what it held, oldest first.
    static func drainErrors() -> [QueuedError] {
        var errors: [QueuedError] = []
        while true {
            let code = apus_ERR_get_error()
            if code == 0 { break }
            var text = [CChar](repeating: 0, count: 256)
            apus_ERR_error_string_n(code, &text, text.count)
            let full = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // "error:0A000086:SSL routines::certificate verify failed"
            let parts = full.split(separator: ":", maxSplits: 4, omittingEmptySubsequences: false)
            let reason = parts.count == 5 ? String(parts[4]) : full
            if errors.count < 16 {
                errors.append(QueuedError(code: code, reason: reason, reasonCode: apus_ERR_GET_REASON(code)))
            }
        }
        return errors
    }

    /// Empties the error queue, so the next failure reports only its own errors.
    static func clearErrors() {
        apus_ERR_clear_error()
    }

    /// A C string from OpenSSL, or `fallback` for NULL.
    static func string(_ pointer: UnsafePointer<CChar>?, or fallback: String = "") -> String {
        guard let pointer else { return fallback }
        return String(cString: pointer)
    }
}
