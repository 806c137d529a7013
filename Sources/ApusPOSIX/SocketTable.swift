import ApusBase
import CApusSystem
import Glibc

/// Who owns the server side of a TCP connection on this host: the uids of
/// the listening sockets the connection may have come in through, and of the
/// accepted socket itself.
public struct SocketOwners: Equatable, Sendable {
    /// The uid of each listening socket on the peer's port whose address is
    /// the peer's address or the wildcard (`0.0.0.0`, `::`): the socket that
    /// took the connection. Usually one; several only with `SO_REUSEPORT`,
    /// which the kernel allows only between sockets of the same uid.
    public var listeners: [UInt32] = []
    /// The uid of the server end of the connection (the accepted socket), or
    /// nil when the table had no such row.
    public var connection: UInt32?

    /// The uids that decide who is listening: the listeners', or, when the
    /// listener has gone (a server that closed it after accepting), the
    /// accepted socket's. Empty when the connection was not found at all.
    public var deciding: [UInt32] {
        if connection == nil { return [] }
        return listeners.isEmpty ? [connection ?? 0] : listeners
    }
}

/// The kernel's TCP socket tables: who owns the server end of a loopback
/// connection (delivery.md, "Relay identity"). Asked through
/// `NETLINK_SOCK_DIAG` (see ``diagnosticOwners(local:peer:)``), or where the
/// kernel lacks it, read from `/proc/net/tcp` and `/proc/net/tcp6` (procfs,
/// "TCP sockets").
///
/// Each row is `sl: LOCAL REMOTE STATE tx:rx tr:when retrnsmt UID …`, an
/// address being the 32-bit words of the address as the host stores them,
/// `%08X` each, then `:%04X` for the port. The file is read once (at most
/// ``sizeLimit`` bytes) and scanned in place, without allocating per row.
///
/// Why the listener decides: the listening socket is what the relay's
/// administrator set up (Postfix's `master` and `smtp-sink -u nobody` bind as
/// root and hand the accepted sockets to unprivileged processes); a local user
/// who listens on the relay's port owns the listener. Kernels before 6.x show
/// a not-yet-accepted connection as root's, so the connection row alone could
/// not be trusted.
public enum SocketTable {
    /// The most bytes of a table read (about 200,000 sockets); a larger table
    /// is an `EFBIG` error, so the caller refuses rather than guesses.
    public static let sizeLimit = 32 << 20

    /// The owners of the server side of the connection from `local` (this
    /// end, `getsockname`) to `peer` (`getpeername`).
    ///
    /// Asks sock_diag; where it does not answer, reads `/proc/net/tcp` for
    /// IPv4 (and IPv4-mapped) peers, and
    /// `/proc/net/tcp6` for IPv6 peers or when the IPv4 table has no such
    /// connection (a dual-stack listener on `::` holds it as a mapped address).
    ///
    /// - Throws: ``Errno`` when a table cannot be read (no `/proc`: `ENOENT`)
    ///   or is larger than ``sizeLimit`` (`EFBIG`).
    public static func owners(local: SocketAddress, peer: SocketAddress) throws(Errno) -> SocketOwners {
        if let found = diagnosticOwners(local: local, peer: peer) { return found }
        return try tableOwners(local: local, peer: peer)
    }

    /// The owners from `NETLINK_SOCK_DIAG` (sock_diag(7)): one exact lookup
    /// of the connection and a dump of the listening sockets only, so the cost
    /// does not grow with the number of connections on the host (reading
    /// `/proc/net/tcp` walks them all: milliseconds on a large machine). Nil
    /// when the kernel does not answer (no `CONFIG_INET_DIAG`).
    static func diagnosticOwners(local: SocketAddress, peer: SocketAddress) -> SocketOwners? {
        let peerBytes = peer.addressBytes
        let localBytes = local.addressBytes
        guard peerBytes.count == localBytes.count else { return nil }
        var result = apus_socket_owners()
        let status = peerBytes.withUnsafeBufferPointer { peerPointer in
            localBytes.withUnsafeBufferPointer { localPointer in
                apus_socket_owners(
                    peer.rawFamily, peerPointer.baseAddress, peer.port, localPointer.baseAddress, local.port, &result)
            }
        }
        if status != 0 { return nil }
        var owners = SocketOwners()
        if result.connection_found != 0 { owners.connection = result.connection_uid }
        let kept = Int(min(result.listener_count, 16))
        withUnsafeBytes(of: result.listeners) { raw in
            for index in 0..<kept { owners.listeners.append(raw.load(fromByteOffset: index * 4, as: UInt32.self)) }
        }
        return owners
    }

    /// The owners from `/proc/net/tcp` (and `tcp6`): the fallback where
    /// sock_diag is missing.
    static func tableOwners(local: SocketAddress, peer: SocketAddress) throws(Errno) -> SocketOwners {
        let peerBytes = peer.addressBytes
        let localBytes = local.addressBytes
        if let peer4 = ipv4(peerBytes), let local4 = ipv4(localBytes) {
            let found = try scan(
                "/proc/net/tcp", peer: rowAddress(peer4, port: peer.port), local: rowAddress(local4, port: local.port),
                wildcard: rowAddress([0, 0, 0, 0], port: peer.port))
            if found.connection != nil { return found }
            let mappedPeer = [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + peer4
            let mappedLocal = [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + local4
            return try scan(
                "/proc/net/tcp6", peer: rowAddress(mappedPeer, port: peer.port),
                local: rowAddress(mappedLocal, port: local.port),
                wildcard: rowAddress([UInt8](repeating: 0, count: 16), port: peer.port))
        }
        return try scan(
            "/proc/net/tcp6", peer: rowAddress(peerBytes, port: peer.port),
            local: rowAddress(localBytes, port: local.port),
            wildcard: rowAddress([UInt8](repeating: 0, count: 16), port: peer.port))
    }

    /// The lowest port an unprivileged process may bind: the first line of
    /// `/proc/sys/net/ipv4/ip_unprivileged_port_start`, or 1024 (the kernel's
    /// default) when it cannot be read.
    public static func unprivilegedPortStart() -> Int {
        guard let fd = try? FileDescriptor.open("/proc/sys/net/ipv4/ip_unprivileged_port_start", O_RDONLY) else {
            return 1024
        }
        defer { fd.close() }
        var bytes = [UInt8](repeating: 0, count: 16)
        guard let n = try? bytes.withUnsafeMutableBytes({ buffer throws(Errno) in try fd.read(into: buffer) }) else {
            return 1024
        }
        var value = 0
        var digits = 0
        for byte in bytes.prefix(n) {
            guard byte >= 0x30 && byte <= 0x39 else { break }
            value = value * 10 + Int(byte - 0x30)
            digits += 1
            if digits > 5 { return 1024 }
        }
        return digits == 0 ? 1024 : value
    }

    /// The 4 address bytes of an IPv4 or IPv4-mapped IPv6 address, else nil.
    static func ipv4(_ bytes: [UInt8]) -> [UInt8]? {
        if bytes.count == 4 { return bytes }
        if bytes.count == 16 && bytes.prefix(10).allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            return Array(bytes[12...])
        }
        return nil
    }

    /// `ADDR:PORT` as the table prints it: each 32-bit word of the address in
    /// host byte order as `%08X`, then the port as `%04X`.
    static func rowAddress(_ bytes: [UInt8], port: UInt16) -> [UInt8] {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2 + 5)
        var index = 0
        while index + 4 <= bytes.count {
            let word = bytes[index..<index + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            appendHex(UInt64(word), digits: 8, to: &text)
            index += 4
        }
        text.append(UInt8(ascii: ":"))
        appendHex(UInt64(port), digits: 4, to: &text)
        return text
    }

    private static func appendHex(_ value: UInt64, digits: Int, to text: inout [UInt8]) {
        Hex.append(value, digits: digits, to: &text)
    }

    /// Reads `path` and collects the listeners on `peer` or `wildcard` and the
    /// connection from `peer` to `local`.
    static func scan(_ path: String, peer: [UInt8], local: [UInt8], wildcard: [UInt8]) throws(Errno) -> SocketOwners {
        let fd = try FileDescriptor.open(path, O_RDONLY)
        let table: [UInt8]
        do throws(Errno) {
            table = try fd.readAll(limit: sizeLimit)
        } catch {
            fd.close()
            throw Errno(error.code, operation: "read", object: path)
        }
        fd.close()
        return parse(table, peer: peer, local: local, wildcard: wildcard)
    }

    /// The scan of one table's text (see ``scan(_:peer:local:wildcard:)``).
    /// Rows that do not parse are skipped.
    static func parse(_ table: [UInt8], peer: [UInt8], local: [UInt8], wildcard: [UInt8]) -> SocketOwners {
        var owners = SocketOwners()
        let listenState: [UInt8] = Array("0A".utf8)
        table.withUnsafeBufferPointer { bytes in
            var lineStart = 0
            // The first line is the header.
            while lineStart < bytes.count && bytes[lineStart] != 0x0A { lineStart += 1 }
            lineStart += 1
            while lineStart < bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
                // Fields: 0 "sl:", 1 local, 2 remote, 3 state, 4 tx:rx, 5 tr:when, 6 retrnsmt, 7 uid.
                var starts = (0, 0, 0, 0, 0)  // local, remote, state, uid start; uid end
                var ends = (0, 0, 0)  // local, remote, state ends
                var field = -1
                var position = lineStart
                var complete = false
                while position < lineEnd {
                    while position < lineEnd && bytes[position] == 0x20 { position += 1 }
                    if position >= lineEnd { break }
                    let start = position
                    while position < lineEnd && bytes[position] != 0x20 { position += 1 }
                    field += 1
                    switch field {
                    case 1: (starts.0, ends.0) = (start, position)
                    case 2: (starts.1, ends.1) = (start, position)
                    case 3: (starts.2, ends.2) = (start, position)
                    case 7:
                        (starts.3, starts.4) = (start, position)
                        complete = true
                    default: break
                    }
                    if complete { break }
                }
                if complete {
                    func equals(_ from: Int, _ to: Int, _ expected: [UInt8]) -> Bool {
                        to - from == expected.count
                            && expected.withUnsafeBufferPointer { e in
                                var i = 0
                                while i < e.count {
                                    if bytes[from + i] != e[i] { return false }
                                    i += 1
                                }
                                return true
                            }
                    }
                    var uid: UInt64 = 0
                    var valid = starts.4 > starts.3 && starts.4 - starts.3 <= 10
                    var i = starts.3
                    while valid && i < starts.4 {
                        let digit = bytes[i]
                        if digit < 0x30 || digit > 0x39 { valid = false }
                        uid = uid * 10 + UInt64(digit &- 0x30)
                        i += 1
                    }
                    if valid && uid <= UInt64(UInt32.max) {
                        let owner = UInt32(uid)
                        if equals(starts.2, ends.2, listenState) {
                            if equals(starts.0, ends.0, peer) || equals(starts.0, ends.0, wildcard) {
                                owners.listeners.append(owner)
                            }
                        } else if equals(starts.0, ends.0, peer) && equals(starts.1, ends.1, local) {
                            owners.connection = owner
                        }
                    }
                }
                lineStart = lineEnd + 1
            }
        }
        return owners
    }
}
