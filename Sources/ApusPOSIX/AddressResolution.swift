import Glibc

/// Why a host name could not be turned into addresses: `getaddrinfo`'s error
/// code and `gai_strerror`'s words ("Name or service not known").
public struct ResolutionError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The `EAI_*` code (negative on glibc); `EAI_SYSTEM` carries ``systemError``.
    public var code: Int32
    /// The host that was looked up.
    public var host: String
    /// `errno` when ``code`` is `EAI_SYSTEM`, else 0.
    public var systemError: Int32

    /// Creates an error.
    public init(code: Int32, host: String, systemError: Int32 = 0) {
        self.code = code
        self.host = host
        self.systemError = systemError
    }

    /// The resolver's words: "Name or service not known", "Temporary failure in name resolution".
    public var reason: String {
        if code == EAI_SYSTEM { return Errno(systemError, operation: "getaddrinfo").reason }
        guard let text = gai_strerror(code) else { return "resolver error \(code)" }
        return String(cString: text)
    }

    /// Whether the failure may go away by itself (`EAI_AGAIN`: no answer from the DNS).
    public var isTemporary: Bool { code == EAI_AGAIN }

    /// "getaddrinfo nonexistent.invalid: Name or service not known".
    public var description: String { "getaddrinfo \(host): \(reason)" }
}

/// Host name resolution for TCP connections.
public enum AddressResolution {
    /// The TCP addresses of `host` with `port`, IPv6 and IPv4, in the order
    /// the system prefers (RFC 6724 / `gai.conf`), duplicates removed. A
    /// numeric address is returned as is without a lookup.
    ///
    /// The C function is `getaddrinfo` (with `AI_ADDRCONFIG` off, so `::1`
    /// is kept on hosts with only loopback IPv6). It blocks for as long as
    /// the system resolver takes (its own timeouts apply).
    ///
    /// - Throws: ``ResolutionError`` when the name has no address.
    public static func resolve(host: String, port: UInt16) throws(ResolutionError) -> [SocketAddress] {
        if let numeric = SocketAddress(numeric: host, port: port) { return [numeric] }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        var list: UnsafeMutablePointer<addrinfo>?
        let result = getaddrinfo(host, String(port), &hints, &list)
        if result != 0 {
            throw ResolutionError(code: result, host: host, systemError: result == EAI_SYSTEM ? errno : 0)
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var entry = list
        while let current = entry {
            if let pointer = current.pointee.ai_addr,
                let address = SocketAddress(pointer, length: current.pointee.ai_addrlen),
                !addresses.contains(address)
            {
                addresses.append(address)
            }
            entry = current.pointee.ai_next
        }
        if addresses.isEmpty { throw ResolutionError(code: EAI_NONAME, host: host) }
        return addresses
    }
}
