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
///
/// The same class as the client's ``TLSStream`` (so `inner`, `timeout`,
/// `tlsSession`, reading and writing are written once), made with the server
/// initialisers below; `requestedServerName` is the SNI the client sent, and
/// `tlsSession`'s peer fields describe the client certificate if one was required.
package typealias TLSServerStream = TLSStream

extension TLSStream {
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
    package convenience init(
        wrapping inner: any ByteStream, certificateFile: String, keyFile: String,
        minimumVersion: TLSVersion = .tls12, maximumVersion: TLSVersion? = nil, clientCAFile: String? = nil
    ) throws {
        var configuration = TLSServerConfiguration(certificateFile: certificateFile, keyFile: keyFile)
        configuration.minimumVersion = minimumVersion
        configuration.maximumVersion = maximumVersion
        configuration.clientCAFile = clientCAFile
        try self.init(serving: inner, configuration: configuration)
    }

    /// A wrapper for ``ScriptableSMTPServer/Configuration/startTLS``: each
    /// call performs a server handshake with `identity` over the given stream.
    ///
    /// ```
    /// configuration.startTLS = TLSServerStream.wrapper(certificates.server)
    /// ```
    package static func wrapper(
        _ identity: TestCertificates.Identity, maximumVersion: TLSVersion? = nil, clientCAFile: String? = nil
    ) -> @Sendable (any ByteStream) throws -> any ByteStream {
        { stream in
            try TLSServerStream(
                wrapping: stream, certificateFile: identity.certificateFile, keyFile: identity.keyFile,
                maximumVersion: maximumVersion, clientCAFile: clientCAFile)
        }
    }
}
