import ApusConfig
import ApusPOSIX
import ApusTransport

/// The owner check of delivery.md, "Relay identity": on a loopback address
/// and an unprivileged port any local user could be the one listening, so
/// apus talks to such a relay only when the kernel's socket table says the
/// listening socket belongs to root or to `relay_owner`.
///
/// The check runs right after `connect`, before the greeting is read, so a
/// refused listener gets nothing at all: no EHLO, no AUTH, no mail. A relay on
/// another host, or on a port below `ip_unprivileged_port_start`, costs
/// nothing; the check itself is two sock_diag round trips (see
/// ``SocketTable``), or a read of `/proc/net/tcp` where the kernel lacks sock_diag.
///
/// Every doubt refuses: a table that cannot be read (no sock_diag and no
/// `/proc`), or a connection not found in it, is a temporary failure like a
/// foreign owner.
enum RelayIdentity {
    /// Why apus must not talk over `stream`, or nil when it may.
    ///
    /// - Parameters:
    ///   - stream: the connection, just made.
    ///   - owner: `relay_owner`.
    /// - Returns: one line naming the relay and its owner ("relay
    ///   127.0.0.1[127.0.0.1]:2525 is owned by uid 1001 (mallory), not root or
    ///   relay_owner"), or why the owner could not be found.
    static func refusal(for stream: TCPStream, owner: RelayOwner) -> String? {
        guard let peer = stream.peerAddress, peer.isLoopback else { return nil }
        if Int(peer.port) < SocketTable.unprivilegedPortStart() { return nil }
        let relay = stream.peerDescription
        let owners: SocketOwners
        do throws(Errno) {
            guard let local = try stream.descriptor.localAddress() else {
                return "cannot tell who listens on \(relay): no local address"
            }
            owners = try SocketTable.owners(local: local, peer: peer)
        } catch {
            return "cannot tell who listens on \(relay) (\(error)); refusing a loopback relay on an unprivileged port"
        }
        let deciding = owners.deciding
        if deciding.isEmpty {
            return "cannot tell who listens on \(relay): the connection is not in the kernel's socket table"
        }
        guard let foreign = deciding.first(where: { !owner.allows($0) }) else { return nil }
        let name = UserDatabase.name(of: foreign).map { " (\($0))" } ?? ""
        let allowed = owner == .root ? "root or relay_owner" : "root or relay_owner (\(owner))"
        return "relay \(relay) is owned by uid \(foreign)\(name), not \(allowed)"
    }
}
