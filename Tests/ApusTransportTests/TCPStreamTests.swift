import ApusPOSIX
import ApusTestSupport
import ApusTransport
import Foundation
import Testing

@Suite struct TCPStreamTests {
    /// Accepts one connection on `listener` in the background and echoes one read back.
    func echoOnce(_ listener: TCPListener) -> Thread {
        let thread = Thread {
            guard let peer = try? listener.accept(timeout: 5) else { return }
            var buffer = [UInt8](repeating: 0, count: 100)
            if let n = try? buffer.withUnsafeMutableBytes({ try peer.read(into: $0) }), n > 0 {
                try? peer.write(Array(buffer[0..<n]))
            }
            _ = try? buffer.withUnsafeMutableBytes { try peer.read(into: $0) }  // wait for the client to close
            peer.close()
        }
        thread.start()
        return thread
    }

    /// A loopback connection: the listener, the client stream (with `timeout`) and the accepted end.
    func loopbackConnection(timeout: Double) throws -> (TCPListener, TCPStream, TCPStream) {
        let listener = try TCPListener()
        let stream = try TCPStream.connect(host: "127.0.0.1", port: listener.port, timeout: timeout)
        guard let peer = try listener.accept(timeout: 2) else {
            stream.close()
            throw TransportError.timedOut("accepting on \(listener.port)")
        }
        return (listener, stream, peer)
    }

    func roundTrip(_ stream: TCPStream) throws {
        try stream.write(Array("hello\r\n".utf8))
        #expect(try readLine(stream) == "hello")
    }

    @Test(arguments: [("127.0.0.1", "127.0.0.1"), ("::1", "[::1]")])
    func connectsOverIPv4AndIPv6(host: String, literal: String) throws {
        let listener = try TCPListener(host: host)
        _ = echoOnce(listener)
        let address = try ServerAddress(parsing: "\(literal):\(listener.port)", defaultPort: 25)
        let stream = try TCPStream.connect(to: address, timeout: 2)
        defer { stream.close() }
        #expect(stream.peerDescription == "\(host)[\(host)]:\(listener.port)")
        #expect(stream.isLoopback)
        #expect(stream.tlsSession == nil)
        try roundTrip(stream)
    }

    @Test func connectsByName() throws {
        let listener = try TCPListener(host: "127.0.0.1")
        _ = echoOnce(listener)
        let stream = try TCPStream.connect(host: "localhost", port: listener.port, timeout: 2)
        defer { stream.close() }
        #expect(stream.peerDescription == "localhost[127.0.0.1]:\(listener.port)")
        try roundTrip(stream)
    }

    @Test func fallsBackToTheNextAddressWhenTheFirstRefuses() throws {
        // This machine's "localhost" may have only one address, so the list a
        // resolver would return for a dual-stack name is given directly:
        // ::1 first (nothing listens there on this port), then 127.0.0.1.
        let listener = try TCPListener(host: "127.0.0.1")
        _ = echoOnce(listener)
        let addresses = try [
            #require(SocketAddress(numeric: "::1", port: listener.port)),
            #require(SocketAddress(numeric: "127.0.0.1", port: listener.port)),
        ]
        let stream = try TCPStream.connect(host: "dual.test", addresses: addresses, timeout: 2)
        defer { stream.close() }
        #expect(stream.peerDescription == "dual.test[127.0.0.1]:\(listener.port)")
        try roundTrip(stream)
    }

    @Test func refusedPortSaysSoLikePostfix() throws {
        let port = try freeLoopbackPort()
        #expect {
            try TCPStream.connect(host: "127.0.0.1", port: port, timeout: 2)
        } throws: { error in
            guard case TransportError.connectFailed(let text) = error else { return false }
            return text == "connect to 127.0.0.1[127.0.0.1]:\(port): Connection refused"
        }
    }

    @Test func allAddressesRefusedReportsTheLast() throws {
        let port = try freeLoopbackPort()
        let addresses = try [
            #require(SocketAddress(numeric: "::1", port: port)),
            #require(SocketAddress(numeric: "127.0.0.1", port: port)),
        ]
        #expect {
            try TCPStream.connect(host: "dual.test", addresses: addresses, timeout: 2)
        } throws: { error in
            String(describing: error) == "connect to dual.test[127.0.0.1]:\(port): Connection refused"
        }
    }

    @Test func unresolvableName() {
        #expect {
            try TCPStream.connect(host: "nonexistent.invalid", port: 25, timeout: 2)
        } throws: { error in
            guard case TransportError.resolutionFailed(let host, let reason) = error else { return false }
            return host == "nonexistent.invalid" && !reason.isEmpty
                && String(describing: error).hasPrefix("cannot resolve nonexistent.invalid: ")
        }
    }

    @Test func readTimesOutOnASilentPeer() throws {
        let (listener, stream, peer) = try loopbackConnection(timeout: 0.3)
        defer { stream.close() }
        defer { peer.close() }
        let start = Date()
        var buffer = [UInt8](repeating: 0, count: 10)
        #expect {
            _ = try buffer.withUnsafeMutableBytes { try stream.read(into: $0) }
        } throws: { error in
            guard case TransportError.timedOut(let what) = error else { return false }
            return what == "reading from 127.0.0.1[127.0.0.1]:\(listener.port)"
        }
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed >= 0.25 && elapsed < 2)
    }

    @Test func endOfStreamAndClosedPeer() throws {
        let (_, stream, peer) = try loopbackConnection(timeout: 2)
        defer { stream.close() }
        peer.close()
        var buffer = [UInt8](repeating: 0, count: 10)
        #expect(try buffer.withUnsafeMutableBytes { try stream.read(into: $0) } == 0)
        // Writing to a closed peer fails with EPIPE/ECONNRESET and never raises SIGPIPE.
        #expect(throws: TransportError.self) {
            for _ in 0..<100 { try stream.write([UInt8](repeating: 65, count: 65536)) }
        }
    }

    @Test func writeTimesOutWhenThePeerDoesNotRead() throws {
        let (_, stream, peer) = try loopbackConnection(timeout: 0.3)
        defer { stream.close() }
        defer { peer.close() }
        #expect {
            for _ in 0..<10_000 { try stream.write([UInt8](repeating: 65, count: 65536)) }
        } throws: { error in
            guard case TransportError.timedOut(let what) = error else { return false }
            return what.hasPrefix("writing to 127.0.0.1[127.0.0.1]:")
        }
    }

    @Test func adoptsAConnectedDescriptor() throws {
        let listener = try TCPListener()
        let client = try TCPStream.connect(host: "127.0.0.1", port: listener.port, timeout: 2)
        defer { client.close() }
        let accepted = try #require(try listener.accept(timeout: 2))
        #expect(accepted.peerDescription.hasPrefix("127.0.0.1[127.0.0.1]:"))
        let copy = FileDescriptor(rawValue: dup(client.descriptor.rawValue))
        let adopted = try TCPStream(connectedDescriptor: copy, timeout: 2, hostName: "relay")
        defer { adopted.close() }
        #expect(adopted.peerDescription == "relay[127.0.0.1]:\(listener.port)")
        try adopted.write(Array("x\n".utf8))
        #expect(try readLine(accepted) == "x")
        accepted.close()
    }

    @Test(arguments: [
        ("127.0.0.1", true), ("127.8.9.10", true), ("::1", true), ("::ffff:127.0.0.1", true),
        ("192.0.2.1", false), ("::2", false), ("2001:db8::1", false),
    ])
    func loopbackAddresses(text: String, loopback: Bool) throws {
        let address = try #require(SocketAddress(numeric: text, port: 25))
        #expect(address.isLoopback == loopback)
        #expect(address.ipAddress == text)
    }
}
