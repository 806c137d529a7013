import Glibc

/// Thin throwing wrappers around the socket calls apus makes (TCP only).
///
/// Like ``FileDescriptor`` itself these do not own the descriptor: the caller
/// closes it. Errors name the call and, where known, the address.
extension FileDescriptor {
    /// Creates a TCP socket of `family` (`AF_INET` or `AF_INET6`), close-on-exec
    /// and, when asked, non-blocking. The C function is `socket`.
    public static func socket(family: Int32, nonBlocking: Bool = true) throws(Errno) -> FileDescriptor {
        let type =
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        let fd = try systemCall("socket") { Glibc.socket(family, type, 0) }
        return FileDescriptor(rawValue: fd)
    }

    /// Starts connecting to `address`. Returns true when connected at once,
    /// false when a non-blocking connect is in progress (`EINPROGRESS`): wait
    /// for writing, then read ``pendingSocketError()``. The C function is `connect`.
    public func connect(to address: SocketAddress) throws(Errno) -> Bool {
        do throws(Errno) {
            _ = try address.withSockAddr { (pointer, length) throws(Errno) in
                try systemCall("connect", address.description) { Glibc.connect(rawValue, pointer, length) }
            }
            return true
        } catch  where error.code == EINPROGRESS || error.code == EINTR {
            return false
        }
    }

    /// The socket's pending error (`getsockopt(SO_ERROR)`), 0 when none: the
    /// outcome of a non-blocking connect.
    public func pendingSocketError() throws(Errno) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try systemCall("getsockopt") { getsockopt(rawValue, SOL_SOCKET, SO_ERROR, &value, &length) }
        return value
    }

    /// Sets an integer socket option. The C function is `setsockopt`.
    public func setOption(level: Int32, name: Int32, value: Int32) throws(Errno) {
        var v = value
        _ = try systemCall("setsockopt") {
            setsockopt(rawValue, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    /// Turns Nagle's algorithm off (`TCP_NODELAY`), so a block written in one
    /// call leaves at once instead of waiting for the peer's delayed ACK.
    public func setNoDelay() throws(Errno) {
        try setOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
    }

    /// Allows binding a port still in `TIME_WAIT` (`SO_REUSEADDR`).
    public func setReuseAddress() throws(Errno) {
        try setOption(level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
    }

    /// Binds the socket to `address`. The C function is `bind`.
    public func bind(to address: SocketAddress) throws(Errno) {
        _ = try address.withSockAddr { (pointer, length) throws(Errno) in
            try systemCall("bind", address.description) { Glibc.bind(rawValue, pointer, length) }
        }
    }

    /// Marks the socket as accepting connections. The C function is `listen`.
    public func listen(backlog: Int32) throws(Errno) {
        _ = try systemCall("listen") { Glibc.listen(rawValue, backlog) }
    }

    /// Accepts one connection; the new descriptor is close-on-exec and
    /// non-blocking. Throws `EAGAIN` when none is waiting on a non-blocking
    /// socket. The C functions are `accept` and `fcntl` (Glibc's module
    /// hides `accept4`; the race with `exec` in another thread does not matter
    /// to apus, which accepts only in tests).
    public func accept() throws(Errno) -> (FileDescriptor, SocketAddress?) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = try withUnsafeMutablePointer(to: &storage) { pointer throws(Errno) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(Errno) in
                try systemCall("accept") { Glibc.accept(rawValue, address, &length) }
            }
        }
        let accepted = FileDescriptor(rawValue: fd)
        do throws(Errno) {
            _ = try systemCall("fcntl") { fcntl(fd, F_SETFD, FD_CLOEXEC) }
            try accepted.setNonBlocking(true)
        } catch {
            accepted.close()
            throw error
        }
        let peer = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: length) }
        }
        return (accepted, peer)
    }

    /// The address the socket is bound to (after binding port 0, the port the
    /// kernel chose). The C function is `getsockname`.
    public func localAddress() throws(Errno) -> SocketAddress? {
        try socketName("getsockname") { getsockname($0, $1, $2) }
    }

    /// The address of the connected peer. The C function is `getpeername`.
    public func peerAddress() throws(Errno) -> SocketAddress? {
        try socketName("getpeername") { getpeername($0, $1, $2) }
    }

    private func socketName(
        _ operation: String, _ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) throws(Errno) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { pointer throws(Errno) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address throws(Errno) in
                try systemCall(operation) { call(rawValue, address, &length) }
            }
        }
        return withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { SocketAddress($0, length: length) }
        }
    }

    /// Sends some of `buffer` with `MSG_NOSIGNAL` (a closed peer gives `EPIPE`,
    /// never `SIGPIPE`); returns how many bytes went. The C function is `send`.
    public func send(_ buffer: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try systemCall("send") { Glibc.send(rawValue, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Receives up to `buffer.count` bytes; 0 means the peer closed. The C
    /// function is `recv`.
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try systemCall("recv") { Glibc.recv(rawValue, buffer.baseAddress, buffer.count, 0) }
    }

    /// Shuts down both directions (`shutdown(SHUT_RDWR)`) without closing the
    /// descriptor: a thread blocked in `poll` or `recv` on it wakes and sees
    /// end of stream. Errors (a socket never connected) are ignored.
    public func shutdownBoth() {
        _ = Glibc.shutdown(rawValue, Int32(SHUT_RDWR))
    }
}
