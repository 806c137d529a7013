import Glibc

/// An IPv4 or IPv6 socket address (a `sockaddr_in` or `sockaddr_in6` kept in a
/// `sockaddr_storage`), as `getaddrinfo`, `accept` and `getsockname` give it.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    /// The address family.
    public enum Family: Sendable {
        /// `AF_INET`.
        case ipv4
        /// `AF_INET6`.
        case ipv6
    }

    /// The raw bytes of the C structure (`length` of them are meaningful).
    private var storage: [UInt8]

    /// Wraps a C socket address of `length` bytes. Returns nil for a family
    /// other than `AF_INET` / `AF_INET6`.
    public init?(_ address: UnsafePointer<sockaddr>, length: socklen_t) {
        let family = Int32(address.pointee.sa_family)
        let expected: Int
        switch family {
        case AF_INET: expected = MemoryLayout<sockaddr_in>.size
        case AF_INET6: expected = MemoryLayout<sockaddr_in6>.size
        default: return nil
        }
        if Int(length) < expected { return nil }
        storage = Array(UnsafeRawBufferPointer(start: address, count: expected))
    }

    /// Parses a numeric IPv4 (`192.0.2.1`) or IPv6 (`::1`, `2001:db8::5`)
    /// address with a port; nil when `text` is neither. The C function is `inet_pton`.
    public init?(numeric text: String, port: UInt16) {
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET, text, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            storage = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            storage = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
        self.port = port
    }

    /// The family.
    public var family: Family {
        storage.withUnsafeBytes { raw in
            Int32(raw.load(as: sockaddr.self).sa_family) == AF_INET ? .ipv4 : .ipv6
        }
    }

    /// The C family constant, `AF_INET` or `AF_INET6`.
    public var rawFamily: Int32 { family == .ipv4 ? AF_INET : AF_INET6 }

    /// The port, in host byte order.
    public var port: UInt16 {
        get {
            storage.withUnsafeBytes { raw in
                family == .ipv4
                    ? UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
                    : UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
            }
        }
        set {
            let isV4 = family == .ipv4
            storage.withUnsafeMutableBytes { raw in
                if isV4 {
                    var v4 = raw.load(as: sockaddr_in.self)
                    v4.sin_port = newValue.bigEndian
                    raw.storeBytes(of: v4, as: sockaddr_in.self)
                } else {
                    var v6 = raw.load(as: sockaddr_in6.self)
                    v6.sin6_port = newValue.bigEndian
                    raw.storeBytes(of: v6, as: sockaddr_in6.self)
                }
            }
        }
    }

    /// The numeric address without port or brackets: `127.0.0.1`, `::1`.
    /// The C function is `inet_ntop`.
    public var ipAddress: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        storage.withUnsafeBytes { raw in
            if family == .ipv4 {
                var a = raw.load(as: sockaddr_in.self).sin_addr
                _ = inet_ntop(AF_INET, &a, &text, socklen_t(text.count))
            } else {
                var a = raw.load(as: sockaddr_in6.self).sin6_addr
                _ = inet_ntop(AF_INET6, &a, &text, socklen_t(text.count))
            }
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether this is a loopback address: `127.0.0.0/8`, `::1`, or an
    /// IPv4-mapped `::ffff:127.x.y.z`.
    public var isLoopback: Bool {
        storage.withUnsafeBytes { raw in
            if family == .ipv4 {
                let a = UInt32(bigEndian: raw.load(as: sockaddr_in.self).sin_addr.s_addr)
                return a >> 24 == 127
            }
            var a = raw.load(as: sockaddr_in6.self).sin6_addr
            return withUnsafeBytes(of: &a) { bytes in
                if bytes.prefix(15).allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
                return bytes.prefix(10).allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff
                    && bytes[12] == 127
            }
        }
    }

    /// The address itself in network byte order: 4 bytes for IPv4, 16 for IPv6.
    public var addressBytes: [UInt8] {
        storage.withUnsafeBytes { raw in
            if family == .ipv4 {
                var a = raw.load(as: sockaddr_in.self).sin_addr
                return withUnsafeBytes(of: &a) { Array($0) }
            }
            var a = raw.load(as: sockaddr_in6.self).sin6_addr
            return withUnsafeBytes(of: &a) { Array($0) }
        }
    }

    /// `127.0.0.1:25` or `[::1]:25`.
    public var description: String {
        family == .ipv4 ? "\(ipAddress):\(port)" : "[\(ipAddress)]:\(port)"
    }

    /// The number of meaningful bytes, for the C calls' `socklen_t` argument.
    public var length: socklen_t { socklen_t(storage.count) }

    /// Calls `body` with a pointer to the C structure and its length.
    public func withSockAddr<R, E: Error>(
        _ body: (UnsafePointer<sockaddr>, socklen_t) throws(E) -> R
    ) throws(E) -> R {
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<sockaddr_storage>.size, alignment: 16)
        defer { pointer.deallocate() }
        storage.withUnsafeBytes { raw in
            if let base = raw.baseAddress { pointer.copyMemory(from: base, byteCount: raw.count) }
        }
        return try body(pointer.assumingMemoryBound(to: sockaddr.self), length)
    }
}
