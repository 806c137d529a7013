import Glibc
import Testing

@testable import ApusPOSIX

/// The `/proc/net/tcp` scan behind the relay owner check, on fixed tables.
struct SocketTableTests {
    static let header =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

    static func row(_ local: String, _ remote: String, _ state: String, uid: UInt32) -> String {
        "   0: \(local) \(remote) \(state) 00000000:00000000 00:00000000 00000000 \(String(uid).leftPadded(5))        0 4242 1 0000000000000000 100 0 0 10 0\n"
    }

    @Test func rowAddressesAreHostOrderHex() {
        let loopback = SocketTable.rowAddress([127, 0, 0, 1], port: 25)
        #expect(String(decoding: loopback, as: UTF8.self) == "0100007F:0019")
        let v6 = SocketTable.rowAddress([UInt8](repeating: 0, count: 15) + [1], port: 2525)
        #expect(String(decoding: v6, as: UTF8.self) == "00000000000000000000000001000000:09DD")
        let mapped = SocketTable.rowAddress([UInt8](repeating: 0, count: 10) + [0xff, 0xff, 127, 0, 0, 1], port: 1)
        #expect(String(decoding: mapped, as: UTF8.self) == "0000000000000000FFFF00000100007F:0001")
    }

    @Test func listenerDecides() {
        let peer = Array("0100007F:09DD".utf8)
        let local = Array("0100007F:C350".utf8)
        let wildcard = Array("00000000:09DD".utf8)
        var table = Self.header
        table += Self.row("00000000:0019", "00000000:0000", "0A", uid: 0)  // another port
        table += Self.row("0100007F:09DD", "00000000:0000", "0A", uid: 0)
        table += Self.row("0100007F:09DD", "0100007F:C350", "01", uid: 65534)
        table += Self.row("0100007F:C350", "0100007F:09DD", "01", uid: 0)  // our end
        let owners = SocketTable.parse(Array(table.utf8), peer: peer, local: local, wildcard: wildcard)
        #expect(owners.listeners == [0])
        #expect(owners.connection == 65534)
        #expect(owners.deciding == [0])
    }

    @Test func wildcardListenerAndMissingListener() {
        let peer = Array("0100007F:09DD".utf8)
        let local = Array("0100007F:C350".utf8)
        let wildcard = Array("00000000:09DD".utf8)
        let withWildcard =
            Self.header + Self.row("00000000:09DD", "00000000:0000", "0A", uid: 1001)
            + Self.row("0100007F:09DD", "0100007F:C350", "01", uid: 1001)
        #expect(
            SocketTable.parse(Array(withWildcard.utf8), peer: peer, local: local, wildcard: wildcard).deciding == [1001]
        )
        let noListener = Self.header + Self.row("0100007F:09DD", "0100007F:C350", "01", uid: 7)
        #expect(SocketTable.parse(Array(noListener.utf8), peer: peer, local: local, wildcard: wildcard).deciding == [7])
        let nothing = Self.header + Self.row("00000000:09DD", "00000000:0000", "0A", uid: 0)
        #expect(SocketTable.parse(Array(nothing.utf8), peer: peer, local: local, wildcard: wildcard).deciding.isEmpty)
    }

    @Test(arguments: ["", "garbage", "\n\n\n", "x\n 0: 0100007F:09DD 0100007F:C350 01 a b c 99999999999 0\n"])
    func malformedTablesFindNothing(text: String) {
        let owners = SocketTable.parse(
            Array(text.utf8), peer: Array("0100007F:09DD".utf8), local: Array("0100007F:C350".utf8),
            wildcard: Array("00000000:09DD".utf8))
        #expect(owners.deciding.isEmpty)
    }

    /// Our own loopback listener is found with our uid, through sock_diag and
    /// through /proc/net alike: on 127.0.0.1, on ::1, and on a dual-stack `::`
    /// listener reached through 127.0.0.1 (an IPv4-mapped connection).
    @Test(arguments: [("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("::", "127.0.0.1")])
    func liveTablesFindOurOwnListener(listenOn: String, connectTo: String) throws {
        let bound = try #require(SocketAddress(numeric: listenOn, port: 0))
        let listener = try FileDescriptor.socket(family: bound.rawFamily)
        defer { listener.close() }
        try listener.bind(to: bound)
        try listener.listen(backlog: 4)
        let port = try #require(try listener.localAddress()).port
        let peer = try #require(SocketAddress(numeric: connectTo, port: port))
        let client = try FileDescriptor.socket(family: peer.rawFamily, nonBlocking: false)
        defer { client.close() }
        _ = try client.connect(to: peer)
        let local = try #require(try client.localAddress())
        let me = UInt32(getuid())
        let diagnostic = try #require(SocketTable.diagnosticOwners(local: local, peer: peer))
        #expect(diagnostic.listeners == [me])
        #expect(diagnostic.connection == me)
        let table = try SocketTable.tableOwners(local: local, peer: peer)
        #expect(table.listeners == [me])
        #expect(table.connection == me)
        #expect(try SocketTable.owners(local: local, peer: peer).deciding == [me])
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
