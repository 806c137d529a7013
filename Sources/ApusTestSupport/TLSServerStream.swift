import ApusTransport

/// The server side of a TLS connection over any ``ByteStream``, for tests: a
/// scriptable SMTP server's STARTTLS or implicit-TLS port, or a bare TLS peer
/// for ``TLSStream`` tests. Runs through the same OpenSSL shim as the client.
///
/// ```
/// let (client, server) = MemoryStream.pair()
/// // on the server's thread:
/// let tls = try TLSServerStream(wrapping: server, certificateFile: certs.server.certificateFile,
///                               keyFile: certs.server.keyFile)
/// ```
public final class TLSServerStream: ByteStream {
    private let connection: TLSConnection

    /// The plain stream underneath.
    public var inner: any ByteStream { connection.inner }

    /// The inner stream's timeout (the handshake gets one such deadline).
    public var timeout: Double {
        get { connection.inner.timeout }
        set { connection.inner.timeout = newValue }
    }

    /// What the handshake negotiated; `peerFingerprint` etc. describe the client
    /// certificate if one was required, and are empty otherwise.
    public var tlsSession: TLSSessionInfo? { connection.session }

    /// The inner stream's description of the peer.
    public var peerDescription: String { connection.inner.peerDescription }

    /// Whether the inner stream's peer is on a loopback address.
    public var isLoopback: Bool { connection.inner.isLoopback }

    /// The name the client sent as SNI, or nil when it sent none.
    public var requestedServerName: String? { connection.requestedServerName }

    /// Accepts a TLS client over `inner` and completes the handshake.
    ///
    /// - Parameters:
    ///   - inner: a connected stream whose peer is about to send a ClientHello.
    ///   - certificateFile: the server certificate chain (PEM).
    ///   - keyFile: its key (PEM).
    ///   - minimumVersion: the lowest version accepted (default TLS 1.2).
    ///   - maximumVersion: the highest version offered (nil: TLS 1.3); `.tls12`
    ///     makes a 1.2-only server.
    ///   - clientCAFile: when set, a client certificate signed by a CA in this
    ///     file is required.
    /// - Throws: ``TransportError`` (`.tls` with the handshake's failure, or the
    ///   inner stream's errors).
    public init(
        wrapping inner: any ByteStream, certificateFile: String, keyFile: String,
        minimumVersion: TLSVersion = .tls12, maximumVersion: TLSVersion? = nil, clientCAFile: String? = nil
    ) throws {
        var configuration = TLSServerConfiguration(certificateFile: certificateFile, keyFile: keyFile)
        configuration.minimumVersion = minimumVersion
        configuration.maximumVersion = maximumVersion
        configuration.clientCAFile = clientCAFile
        connection = try TLSConnection(server: inner, configuration: configuration)
    }

    /// A wrapper for ``ScriptableSMTPServer/Configuration/startTLS``: each
    /// call performs a server handshake with `identity` over the given stream.
    ///
    /// ```
    /// configuration.startTLS = TLSServerStream.wrapper(certificates.server)
    /// ```
    public static func wrapper(
        _ identity: TestCertificates.Identity, maximumVersion: TLSVersion? = nil, clientCAFile: String? = nil
    ) -> @Sendable (any ByteStream) throws -> any ByteStream {
        { stream in
            try TLSServerStream(
                wrapping: stream, certificateFile: identity.certificateFile, keyFile: identity.keyFile,
                maximumVersion: maximumVersion, clientCAFile: clientCAFile)
        }
    }

    /// Reads decrypted bytes; 0 once the client has closed.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try connection.read(into: buffer)
    }

    /// Encrypts and writes every byte of `buffer`.
    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        try connection.write(buffer)
    }

    /// Sends close_notify and closes the inner stream. Idempotent.
    public func close() { connection.close() }
}
