import ApusTransport

/// A TCP port on `127.0.0.1` that was free a moment ago: the kernel picks it
/// for a socket bound to port 0, which is then closed.
///
/// For servers started in another process (smtp-sink, Postfix) that must be
/// told a port. Another process could take the port in between; callers that
/// start a server retry on a bind failure.
///
/// - Parameter host: `127.0.0.1` (default) or `::1`.
/// - Throws: ``TransportError`` when no socket can be bound.
package func freeLoopbackPort(host: String = "127.0.0.1") throws -> UInt16 {
    let listener = try TCPListener(host: host, port: 0)
    defer { listener.close() }
    return listener.port
}
