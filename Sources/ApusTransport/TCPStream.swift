import ApusPOSIX
import Glibc

/// A TCP connection: the socket descriptor it owns, closed by ``close()`` or
/// when the stream is released.
///
/// The socket is non-blocking; every connect, read and write waits in `poll`
/// against a deadline of ``timeout`` seconds set once per operation, so a
/// silent peer ends in ``TransportError/timedOut(_:)``, never a hang.
/// `TCP_NODELAY` is on (commands are written in whole blocks, so Nagle only
/// adds the peer's delayed-ACK wait). Writes use `MSG_NOSIGNAL`: a closed peer
/// is an error, never `SIGPIPE`.
///
/// One thread uses a stream at a time; ``shutdown()`` may be called from any
/// thread to wake it.
public final class TCPStream: ByteStream, @unchecked Sendable {
    /// The socket.
    public let descriptor: FileDescriptor
    /// The connected peer's address, when the system reports one.
    public let peerAddress: SocketAddress?
    /// Seconds each read or write may take.
    public var timeout: Double
    /// Always nil: TLS is a ``TLSStream`` around this stream.
    public var tlsSession: TLSSessionInfo? { nil }
    /// `host[addr]:port`, Postfix style: `mail.example.com[192.0.2.1]:25`.
    public let peerDescription: String
    /// Whether the peer is on `127.0.0.0/8` or `::1`.
    public var isLoopback: Bool { peerAddress?.isLoopback ?? false }

    private var closed = false

    /// Takes ownership of a connected socket (from `accept`, or handed over
    /// by a parent process) and makes it non-blocking.
    ///
    /// - Parameters:
    ///   - descriptor: the connected socket; the stream closes it.
    ///   - timeout: seconds for each read and write.
    ///   - hostName: the name to show in ``peerDescription``; default: the
    ///     peer's numeric address.
    /// - Throws: ``TransportError/io(_:)`` when the descriptor cannot be made non-blocking.
    public init(connectedDescriptor descriptor: FileDescriptor, timeout: Double = 300, hostName: String? = nil) throws {
        self.descriptor = descriptor
        self.timeout = timeout
        let peer = try? descriptor.peerAddress()
        self.peerAddress = peer ?? nil
        if let address = peerAddress {
            peerDescription = "\(hostName ?? address.ipAddress)[\(address.ipAddress)]:\(address.port)"
        } else {
            peerDescription = hostName ?? "fd \(descriptor.rawValue)"
        }
        do throws(Errno) {
            try descriptor.setNonBlocking(true)
        } catch {
            throw TransportError.io(error)
        }
    }

    private init(connected descriptor: FileDescriptor, address: SocketAddress, hostName: String, timeout: Double) {
        self.descriptor = descriptor
        self.peerAddress = address
        self.timeout = timeout
        self.peerDescription = "\(hostName)[\(address.ipAddress)]:\(address.port)"
    }

    deinit { close() }

    /// Connects to `address` (see ``connect(host:port:timeout:)``).
    public static func connect(to address: ServerAddress, timeout: Double) throws -> TCPStream {
        try connect(host: address.host, port: address.port, timeout: timeout, vetting: nil)
    }

    /// Connects to `address`, vetting each connection (see ``connect(host:port:timeout:vetting:)``).
    public static func connect(
        to address: ServerAddress, timeout: Double, vetting: ((TCPStream) -> String?)?
    ) throws -> TCPStream {
        try connect(host: address.host, port: address.port, timeout: timeout, vetting: vetting)
    }

    /// Resolves `host` and connects to its addresses in order until one
    /// accepts (see ``connect(host:port:timeout:vetting:)``, without vetting).
    public static func connect(host: String, port: UInt16, timeout: Double) throws -> TCPStream {
        try connect(host: host, port: port, timeout: timeout, vetting: nil)
    }

    /// Connects to the first of `addresses` that accepts (see
    /// ``connect(host:addresses:timeout:vetting:)``, without vetting).
    public static func connect(host: String, addresses: [SocketAddress], timeout: Double) throws -> TCPStream {
        try connect(host: host, addresses: addresses, timeout: timeout, vetting: nil)
    }

    /// Resolves `host` and connects to its addresses in the resolver's order
    /// (IPv6 and IPv4) until one accepts.
    ///
    /// Each attempt is a non-blocking `connect` waited for in `poll` for at most
    /// `timeout` seconds (Postfix's `smtp_connect_timeout` is per address too).
    /// `TCP_NODELAY` is set on the connected socket.
    ///
    /// - Parameters:
    ///   - host: a name or a numeric address (without brackets).
    ///   - port: the TCP port.
    ///   - timeout: seconds per address for the connect, and then the stream's
    ///     ``timeout`` for each read and write.
    ///   - vetting: asked about each connection before it is returned, before
    ///     a byte is read or written; a reason closes it and the next address
    ///     is tried (and, when none is left, the reason is the error:
    ///     ``TransportError/connectFailed(_:)``). Nil accepts every connection.
    /// - Returns: the connected stream.
    /// - Throws: ``TransportError/resolutionFailed(host:reason:)`` when the name
    ///   has no address; when no address accepts, the most telling failure:
    ///   ``TransportError/connectFailed(_:)`` ("connect to host[addr]:port:
    ///   Connection refused") or ``TransportError/timedOut(_:)`` ("connecting
    ///   to host[addr]:port"). A refusal or timeout is preferred to "Network is
    ///   unreachable" from an address family the machine lacks.
    public static func connect(
        host: String, port: UInt16, timeout: Double, vetting: ((TCPStream) -> String?)?
    ) throws -> TCPStream {
        let addresses: [SocketAddress]
        do throws(ResolutionError) {
            addresses = try AddressResolution.resolve(host: host, port: port)
        } catch {
            throw TransportError.resolutionFailed(host: host, reason: error.reason)
        }
        return try connect(host: host, addresses: addresses, timeout: timeout, vetting: vetting)
    }

    /// Connects to the first of `addresses` that accepts, trying them in
    /// order; `host` names them in messages. See ``connect(host:port:timeout:vetting:)``.
    ///
    /// - Precondition: `addresses` is not empty.
    public static func connect(
        host: String, addresses: [SocketAddress], timeout: Double, vetting: ((TCPStream) -> String?)?
    ) throws -> TCPStream {
        precondition(!addresses.isEmpty, "connect needs at least one address")
        var best: (error: TransportError, rank: Int)?
        for address in addresses {
            let label = "\(host)[\(address.ipAddress)]:\(address.port)"
            do throws(ConnectFailure) {
                let fd = try attempt(address, label: label, timeout: timeout)
                let stream = TCPStream(connected: fd, address: address, hostName: host, timeout: timeout)
                guard let vetting, let refusal = vetting(stream) else { return stream }
                stream.close()
                throw ConnectFailure(error: .connectFailed(refusal), rank: 3)
            } catch {
                if best == nil || error.rank >= best?.rank ?? 0 {
                    best = (error.error, error.rank)
                }
            }
        }
        // `best` is set: the loop ran at least once and every pass failed.
        throw best?.error ?? TransportError.connectFailed("connect to \(host): no address")
    }

    private struct ConnectFailure: Error {
        var error: TransportError
        /// Higher is more telling: vetting refused 3, refused/other errors 2,
        /// timeout 1, unreachable family 0.
        var rank: Int
    }

    private static func attempt(_ address: SocketAddress, label: String, timeout: Double) throws(ConnectFailure)
        -> FileDescriptor
    {
        let deadline = Deadline.after(seconds: timeout)
        func failed(_ code: Int32) -> ConnectFailure {
            let text = "connect to \(label): \(Errno(code, operation: "connect").reason)"
            let weak = [ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL, EAFNOSUPPORT].contains(code)
            return ConnectFailure(error: .connectFailed(text), rank: weak ? 0 : 2)
        }
        let fd: FileDescriptor
        do throws(Errno) {
            fd = try FileDescriptor.socket(family: address.rawFamily)
        } catch {
            throw failed(error.code)
        }
        var connected = false
        do throws(Errno) {
            connected = try fd.connect(to: address)
            if !connected { connected = try fd.wait(forWriting: true, until: deadline) }
            if connected {
                let pending = try fd.pendingSocketError()
                if pending != 0 { throw Errno(pending, operation: "connect") }
                try fd.setNoDelay()
            }
        } catch {
            fd.close()
            throw failed(error.code)
        }
        if !connected {
            fd.close()
            throw ConnectFailure(error: .timedOut("connecting to \(label)"), rank: 1)
        }
        return fd
    }

    /// Reads at least one byte, waiting up to ``timeout``; 0 at end of stream.
    ///
    /// - Throws: ``TransportError/timedOut(_:)`` ("reading from host[addr]:port"),
    ///   ``TransportError/io(_:)`` on a reset or other failure.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if buffer.count == 0 { return 0 }
        let deadline = Deadline.after(seconds: timeout)
        while true {
            let result: Int
            do throws(Errno) {
                result = try descriptor.receive(into: buffer)
            } catch  where error.code == EAGAIN || error.code == EWOULDBLOCK {
                try waitReady(forWriting: false, until: deadline)
                continue
            } catch {
                throw TransportError.io(Errno(error.code, operation: "read", object: peerDescription))
            }
            return result
        }
    }

    /// Writes every byte of `buffer`, waiting up to ``timeout`` in all.
    ///
    /// - Throws: ``TransportError/timedOut(_:)`` ("writing to host[addr]:port")
    ///   when the peer does not take the bytes in time; ``TransportError/io(_:)``
    ///   with `EPIPE` or `ECONNRESET` when it has gone.
    public func write(_ buffer: UnsafeRawBufferPointer) throws {
        let deadline = Deadline.after(seconds: timeout)
        var offset = 0
        while offset < buffer.count {
            do throws(Errno) {
                offset += try descriptor.send(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
            } catch  where error.code == EAGAIN || error.code == EWOULDBLOCK {
                try waitReady(forWriting: true, until: deadline)
            } catch {
                throw TransportError.io(Errno(error.code, operation: "write", object: peerDescription))
            }
        }
    }

    /// Waits in `poll` until the socket is ready or `deadline` passes (timeout error).
    private func waitReady(forWriting: Bool, until deadline: Deadline) throws {
        let ready: Bool
        do throws(Errno) {
            ready = try descriptor.wait(forWriting: forWriting, until: deadline)
        } catch {
            throw TransportError.io(Errno(error.code, operation: "poll", object: peerDescription))
        }
        if !ready {
            let what = forWriting ? "writing to" : "reading from"
            throw TransportError.timedOut("\(what) \(peerDescription)")
        }
    }

    /// Shuts both directions down without closing the descriptor: a thread
    /// blocked reading this stream wakes and sees end of stream. Safe from any thread.
    public func shutdown() {
        descriptor.shutdownBoth()
    }

    /// Closes the socket. Idempotent.
    public func close() {
        if closed { return }
        closed = true
        descriptor.close()
    }
}
