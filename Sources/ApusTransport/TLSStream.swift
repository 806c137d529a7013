import ApusPOSIX

/// A TLS client connection over another ``ByteStream``.
///
/// PLACEHOLDER for the TLS work (issue 5): the interface the engine codes
/// against. The handshake runs in `init`, honouring the inner stream's timeout.
public final class TLSStream: ByteStream {
    /// The plain stream underneath.
    public let inner: any ByteStream
    public var timeout: Double {
        get { inner.timeout }
        set { inner.timeout = newValue }
    }
    public private(set) var tlsSession: TLSSessionInfo?
    public var peerDescription: String { inner.peerDescription }
    public var isLoopback: Bool { inner.isLoopback }

    /// Performs a client handshake over `inner` with `configuration`; throws
    /// ``TransportError/tls(_:)`` or ``TransportError/tlsUnavailable(_:)``.
    public init(wrapping inner: any ByteStream, configuration: TLSConfiguration) throws {
        self.inner = inner
        throw TransportError.tlsUnavailable("TLS support is not built yet")
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { 0 }
    public func write(_ buffer: UnsafeRawBufferPointer) throws {}
    public func close() { inner.close() }
}
