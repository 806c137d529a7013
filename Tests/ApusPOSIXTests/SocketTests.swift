import ApusPOSIX
import Glibc
import Testing

/// Sockets and socket addresses on loopback.
@Suite struct SocketTests {
    @Test func numericAddressesParse() throws {
        let v4 = try #require(SocketAddress(numeric: "127.0.0.1", port: 2525))
        #expect(v4.family == .ipv4)
        #expect(v4.port == 2525)
        #expect(v4.ipAddress == "127.0.0.1")
        #expect(v4.isLoopback)
        let v6 = try #require(SocketAddress(numeric: "::1", port: 25))
        #expect(v6.family == .ipv6)
        #expect(v6.ipAddress == "::1")
        #expect(v6.isLoopback)
        #expect(SocketAddress(numeric: "192.0.2.1", port: 25)?.isLoopback == false)
        #expect(SocketAddress(numeric: "2001:db8::5", port: 25)?.isLoopback == false)
        #expect(SocketAddress(numeric: "localhost", port: 25) == nil)
        #expect(SocketAddress(numeric: "1.2.3", port: 25) == nil)
        #expect(SocketAddress(numeric: "", port: 25) == nil)
    }

    @Test func connectAcceptAndExchangeBytes() throws {
        let listener = try FileDescriptor.socket(family: AF_INET, nonBlocking: false)
        defer { listener.close() }
        try listener.setReuseAddress()
        try listener.bind(to: try #require(SocketAddress(numeric: "127.0.0.1", port: 0)))
        try listener.listen(backlog: 4)
        let bound = try #require(try listener.localAddress())
        #expect(bound.port != 0)

        let client = try FileDescriptor.socket(family: AF_INET, nonBlocking: true)
        defer { client.close() }
        let connected = try client.connect(to: bound)
        if !connected {
            #expect(try client.wait(forWriting: true, until: .after(seconds: 5)))
            #expect(try client.pendingSocketError() == 0)
        }
        try client.setNoDelay()
        let (server, peer) = try listener.accept()
        defer { server.close() }
        #expect(peer?.ipAddress == "127.0.0.1")
        #expect(try client.peerAddress() == bound)
        #expect(try server.peerAddress() == client.localAddress())

        let message = Array("EHLO x\r\n".utf8)
        let sent = try message.withUnsafeBytes { buffer throws(Errno) in try client.send(buffer) }
        #expect(sent == message.count)
        var received = [UInt8](repeating: 0, count: 64)
        #expect(try server.wait(until: .after(seconds: 5)))
        let n = try received.withUnsafeMutableBytes { buffer throws(Errno) in try server.receive(into: buffer) }
        #expect(Array(received[0..<n]) == message)
    }

    @Test func connectingToAClosedPortIsRefused() throws {
        // A port that was just free: bind, read it, close.
        let probe = try FileDescriptor.socket(family: AF_INET, nonBlocking: false)
        try probe.bind(to: try #require(SocketAddress(numeric: "127.0.0.1", port: 0)))
        let address = try #require(try probe.localAddress())
        probe.close()
        let client = try FileDescriptor.socket(family: AF_INET, nonBlocking: true)
        defer { client.close() }
        if try client.connect(to: address) == false {
            #expect(try client.wait(forWriting: true, until: .after(seconds: 5)))
            #expect(try client.pendingSocketError() == ECONNREFUSED)
        }
    }

    @Test func bindingAPortInUseNamesTheCall() throws {
        let first = try FileDescriptor.socket(family: AF_INET, nonBlocking: false)
        defer { first.close() }
        try first.bind(to: try #require(SocketAddress(numeric: "127.0.0.1", port: 0)))
        try first.listen(backlog: 1)
        let address = try #require(try first.localAddress())
        let second = try FileDescriptor.socket(family: AF_INET, nonBlocking: false)
        defer { second.close() }
        #expect {
            try second.bind(to: address)
        } throws: { error in
            (error as? Errno)?.code == EADDRINUSE && (error as? Errno)?.operation == "bind"
        }
    }
}

/// Deadlines count down on the monotonic clock.
@Suite struct DeadlineTests {
    @Test func remainingTimeShrinksAndPasses() {
        let soon = Deadline.after(seconds: 0.02)
        #expect(soon.hasPassed == false)
        #expect(soon.remainingMilliseconds > 0 && soon.remainingMilliseconds <= 20)
        #expect(Deadline.distantFuture.hasPassed == false)
        #expect(Deadline.now < Deadline.distantFuture)
        let past = Deadline(nanoseconds: 0)
        #expect(past.hasPassed)
        #expect(past.remainingMilliseconds == 0)
    }
}
