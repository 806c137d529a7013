import ApusPOSIX

/// A TLS client connection over another ``ByteStream``: TCP for implicit TLS
/// and STARTTLS, or any other stream (an in-memory pair in tests).
///
/// The handshake runs in ``init(wrapping:configuration:)`` against one
/// deadline of the inner stream's ``ByteStream/timeout``. It sends SNI for a
/// host name (not for an address literal), requires TLS 1.2 or 1.3 at least
/// (``TLSConfiguration/minimumVersion``), and — unless `verify` is off or a
/// fingerprint is pinned — verifies the chain against the system trust store
/// (or ``TLSConfiguration/trustFile``) and the host name (or IP address)
/// against the certificate. A pinned SHA-256 ``TLSConfiguration/fingerprint``
/// replaces chain verification. OpenSSL is loaded on first use (`dlopen`), so
/// processes that never start TLS never load it.
///
/// ```
/// let tls = try TLSStream(wrapping: tcp, configuration: TLSConfiguration(serverName: "smtp.example.com"))
/// print(tls.tlsSession!.protocolVersion)   // "TLSv1.3"
/// ```
///
/// Not thread-safe: one thread uses a stream at a time.
public final class TLSStream: ByteStream {
    private let connection: TLSConnection

    /// The plain stream underneath.
    public var inner: any ByteStream { connection.inner }

    /// Seconds each read or write may take: the inner stream's timeout.
    public var timeout: Double {
        get { connection.inner.timeout }
        set { connection.inner.timeout = newValue }
    }

    /// What the handshake negotiated: version, cipher, peer subject, DNS names,
    /// SHA-256 fingerprint, and whether chain and name were verified.
    public var tlsSession: TLSSessionInfo? { connection.session }

    /// The inner stream's description of the peer.
    public var peerDescription: String { connection.inner.peerDescription }

    /// Whether the inner stream's peer is on a loopback address.
    public var isLoopback: Bool { connection.inner.isLoopback }

    /// Performs a client handshake over `inner` with `configuration`.
    ///
    /// On failure the inner stream is left open (the caller closes it; nothing
    /// more is sent in clear by this type).
    ///
    /// - Parameters:
    ///   - inner: a connected stream, positioned where the server expects a ClientHello.
    ///   - configuration: names, trust, pin, client certificate and minimum version.
    /// - Throws: ``TransportError/tlsUnavailable(_:)`` when the system OpenSSL
    ///   cannot be loaded; ``TransportError/tls(_:)`` with a ``TLSFailure`` whose
    ///   kind names the cause (untrusted issuer, expired, name mismatch,
    ///   fingerprint mismatch, protocol version, handshake, configuration);
    ///   ``TransportError/timedOut(_:)`` or the inner stream's I/O errors.
    public init(wrapping inner: any ByteStream, configuration: TLSConfiguration) throws {
        connection = try TLSConnection(client: inner, configuration: configuration)
    }

    /// The server side, for the test support's TLS servers (its
    /// `TLSServerStream`): accepts a client over `inner` and completes the
    /// handshake with `configuration`.
    ///
    /// - Throws: as ``init(wrapping:configuration:)``.
    package init(serving inner: any ByteStream, configuration: TLSServerConfiguration) throws {
        connection = try TLSConnection(server: inner, configuration: configuration)
    }

    /// On the server side, the name the client sent as SNI, or nil when it sent none.
    package var requestedServerName: String? { connection.requestedServerName }

    /// Reads decrypted bytes into `buffer`; returns 0 once the peer has closed.
    /// Throws ``TransportError``.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try connection.read(into: buffer)
    }

    /// Encrypts and writes every byte of `buffer`. Throws ``TransportError``.
    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        try connection.write(buffer)
    }

    /// Sends TLS close_notify, then closes the inner stream. Idempotent.
    public func close() { connection.close() }
}
