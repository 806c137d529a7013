import ApusPOSIX

/// A bidirectional byte stream the SMTP engine runs over: TCP, TLS over another
/// stream, an in-memory pair in tests, a pre-connected socket.
///
/// Reads and writes block until done or until the stream's ``timeout`` (seconds,
/// set once per operation as a ``Deadline``) passes, which throws
/// ``TransportError/timedOut(_:)``; implementations never wait forever.
///
/// TLS belongs to the transport: ``TLSStream`` wraps any `ByteStream` (OpenSSL
/// over memory BIOs), so STARTTLS replaces the connection's stream with a
/// `TLSStream` around it and the session code does not change; implicit TLS
/// wraps the TCP stream right after connecting.
public protocol ByteStream: AnyObject {
    /// Seconds each read or write may take before it fails with a timeout.
    var timeout: Double { get set }

    /// Reads at least one byte into `buffer` and returns how many; 0 means the
    /// peer closed the stream. Throws ``TransportError``.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int

    /// Writes every byte of `buffer`.
    func write(_ buffer: UnsafeRawBufferPointer) throws

    /// What TLS negotiated, or nil while the stream is plain text.
    var tlsSession: TLSSessionInfo? { get }

    /// A description of the peer for messages and logs: `smtp.example.com[203.0.113.5]:587`.
    var peerDescription: String { get }

    /// Whether the peer is on a loopback address (AUTH PLAIN/LOGIN may then go in clear).
    var isLoopback: Bool { get }

    /// Closes the stream (after a TLS close_notify when TLS is on). Idempotent.
    func close()
}

extension ByteStream {
    /// Writes every byte of `bytes`.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }
}

/// Why a transport operation failed.
public enum TransportError: Error, CustomStringConvertible, Sendable {
    /// The host name could not be resolved: (host, resolver's words).
    case resolutionFailed(host: String, reason: String)
    /// No address of the host accepted a connection: `connect to host[addr]:port: reason`.
    case connectFailed(String)
    /// A read, write, connect or handshake took longer than the timeout; the text names which.
    case timedOut(String)
    /// The connection broke (reset, broken pipe) or a system call failed.
    case io(Errno)
    /// The peer closed the connection while more was expected.
    case closed
    /// TLS could not be started: OpenSSL missing, or this stream has no TLS.
    case tlsUnavailable(String)
    /// The TLS handshake or a TLS read/write failed, in a sysadmin's words
    /// ("certificate has expired", "host name mismatch …"), OpenSSL's reason appended.
    case tls(TLSFailure)

    public var description: String {
        switch self {
        case .resolutionFailed(let host, let reason): return "cannot resolve \(host): \(reason)"
        case .connectFailed(let text): return text
        case .timedOut(let what): return "timed out \(what)"
        case .io(let errno): return errno.description
        case .closed: return "connection closed by the server"
        case .tlsUnavailable(let why): return "TLS unavailable: \(why)"
        case .tls(let failure): return failure.description
        }
    }
}

/// A TLS failure, classified so that messages and `-bv` can name the cause.
public struct TLSFailure: Error, CustomStringConvertible, Sendable {
    /// The cause.
    public enum Kind: String, Sendable {
        /// The certificate chain does not lead to a trusted issuer.
        case untrustedIssuer
        /// A certificate in the chain has expired or is not yet valid.
        case expired
        /// The certificate does not name the host connected to.
        case nameMismatch
        /// The certificate's SHA-256 does not match `tls_fingerprint`.
        case fingerprintMismatch
        /// No common protocol version (for example the server only speaks TLS 1.0).
        case protocolVersion
        /// Any other handshake failure.
        case handshake
        /// A read or write on an established TLS connection failed.
        case io
        /// The client certificate or key, or the trust file, could not be loaded.
        case configuration
    }
    /// The cause.
    public var kind: Kind
    /// One line in plain words, OpenSSL's reason included where it adds something.
    public var message: String

    /// Creates a failure.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "TLS: \(message)" }
}

/// How a TLS client connection is set up (the `tls_*` keys of apus.conf).
public struct TLSConfiguration: Sendable {
    /// The name sent as SNI and checked against the certificate; nil for an address literal.
    public var serverName: String?
    /// Verify the chain and host name (`tls_verify`). Off only by explicit configuration.
    public var verify: Bool = true
    /// A CA bundle to trust instead of the system store (`tls_trust_file`).
    public var trustFile: String? = nil
    /// SHA-256 of the server's certificate (32 bytes): pins it, replacing chain verification.
    public var fingerprint: [UInt8]? = nil
    /// Client certificate and key (PEM files).
    public var certificateFile: String? = nil
    /// The client key (PEM).
    public var keyFile: String? = nil
    /// The lowest protocol version allowed.
    public var minimumVersion: TLSVersion = .tls12

    /// A configuration that verifies `serverName` against the system trust store.
    public init(serverName: String?) { self.serverName = serverName }
}

/// A TLS protocol version.
public enum TLSVersion: String, Sendable {
    /// TLS 1.2.
    case tls12 = "1.2"
    /// TLS 1.3.
    case tls13 = "1.3"
}

/// What a TLS handshake negotiated.
public struct TLSSessionInfo: Sendable {
    /// "TLSv1.3".
    public var protocolVersion: String
    /// "TLS_AES_256_GCM_SHA384".
    public var cipher: String
    /// The peer certificate's subject, one line.
    public var peerSubject: String
    /// The peer certificate's DNS names (subjectAltName).
    public var peerNames: [String]
    /// SHA-256 of the peer certificate (DER).
    public var peerFingerprint: [UInt8]
    /// Whether the chain and name were verified (false with `tls_verify off` or a pin).
    public var verified: Bool

    /// Creates the record of a handshake.
    public init(
        protocolVersion: String, cipher: String, peerSubject: String, peerNames: [String],
        peerFingerprint: [UInt8], verified: Bool
    ) {
        self.protocolVersion = protocolVersion
        self.cipher = cipher
        self.peerSubject = peerSubject
        self.peerNames = peerNames
        self.peerFingerprint = peerFingerprint
        self.verified = verified
    }
}
