import ApusPOSIX
import ApusTransport
import Glibc

/// A listening TCP socket, for test servers (test support only, not part of
/// the library): binds an address (by default a free port on `127.0.0.1`),
/// accepts connections as ``TCPStream``s.
///
/// Owns its descriptor, closed by ``close()`` or on release. ``accept(timeout:)``
/// never waits longer than asked.
package final class TCPListener: @unchecked Sendable {
    /// The listening socket.
    package let descriptor: FileDescriptor
    /// The bound address, with the port the kernel chose.
    package let address: SocketAddress
    private var closed = false

    /// The bound port.
    package var port: UInt16 { address.port }

    /// Binds and listens.
    ///
    /// - Parameters:
    ///   - host: a numeric address: `127.0.0.1` (default) or `::1`.
    ///   - port: the port, 0 (default) for one the kernel picks.
    ///   - backlog: the `listen` queue length.
    /// - Throws: ``TransportError/io(_:)`` naming the failing call and address;
    ///   ``TransportError/resolutionFailed(host:reason:)`` when `host` is not numeric.
    package init(host: String = "127.0.0.1", port: UInt16 = 0, backlog: Int32 = 64) throws {
        guard let wanted = SocketAddress(numeric: host, port: port) else {
            throw TransportError.resolutionFailed(host: host, reason: "not a numeric address")
        }
        do throws(Errno) {
            let fd = try FileDescriptor.socket(family: wanted.rawFamily)
            do throws(Errno) {
                try fd.setReuseAddress()
                try fd.bind(to: wanted)
                try fd.listen(backlog: backlog)
                descriptor = fd
                address = try fd.localAddress() ?? wanted
            } catch {
                fd.close()
                throw error
            }
        } catch {
            throw TransportError.io(error)
        }
    }

    deinit { close() }

    /// Accepts one connection, waiting at most `timeout` seconds.
    ///
    /// - Parameters:
    ///   - timeout: how long to wait for a client.
    ///   - streamTimeout: the accepted stream's read/write ``TCPStream/timeout``.
    /// - Returns: the connection, or nil when no client came in time (or the
    ///   listener was shut down).
    /// - Throws: ``TransportError/io(_:)`` when `accept` or `poll` fails.
    package func accept(timeout: Double, streamTimeout: Double = 30) throws -> TCPStream? {
        let deadline = Deadline.after(seconds: timeout)
        while true {
            var accepted: FileDescriptor?
            do throws(Errno) {
                accepted = try descriptor.accept().0
            } catch  where error.code == EAGAIN || error.code == EWOULDBLOCK || error.code == ECONNABORTED {
                // Nothing waiting: fall through to poll.
            } catch {
                throw TransportError.io(error)
            }
            if let accepted { return try TCPStream(connectedDescriptor: accepted, timeout: streamTimeout) }
            let ready: Bool
            do throws(Errno) {
                ready = try descriptor.wait(until: deadline)
            } catch {
                throw TransportError.io(error)
            }
            if !ready { return nil }
        }
    }

    /// Closes the socket: new connections are refused. Idempotent.
    package func close() {
        if closed { return }
        closed = true
        descriptor.close()
    }
}
