import ApusTransport
import Foundation

/// The shared state of a ``ScriptableSMTPServer``: listener, records, threads.
/// Everything mutable is behind `lock`.
final class ServerCore: @unchecked Sendable {
    let configuration: ScriptableSMTPServer.Configuration
    let port: UInt16
    private let listener: TCPListener
    private let lock = NSLock()
    private var records: [ConnectionRecord] = []
    private var openStreams: [Int: TCPStream] = [:]
    private var stopping = false
    private let threads = DispatchGroup()

    init(configuration: ScriptableSMTPServer.Configuration, listener: TCPListener) {
        self.configuration = configuration
        self.listener = listener
        self.port = listener.port
    }

    var isStopping: Bool { lock.withLock { stopping } }

    func start() {
        threads.enter()
        let thread = Thread { [self] in
            defer { threads.leave() }
            acceptLoop()
        }
        thread.name = "ScriptableSMTPServer accept"
        thread.start()
    }

    private func acceptLoop() {
        defer { listener.close() }
        while !isStopping {
            guard let stream = try? listener.accept(timeout: 0.05, streamTimeout: configuration.readTimeout) else {
                continue
            }
            let number: Int? = lock.withLock {
                if stopping { return nil }
                records.append(ConnectionRecord(number: records.count + 1))
                openStreams[records.count] = stream
                return records.count
            }
            guard let number else {
                stream.close()
                return
            }
            threads.enter()
            let thread = Thread { [self] in
                defer { threads.leave() }
                let session = ServerSession(core: self, number: number, stream: stream)
                session.run()
                stream.close()
                lock.withLock {
                    openStreams[number] = nil
                    records[number - 1].isClosed = true
                }
            }
            thread.name = "ScriptableSMTPServer connection \(number)"
            thread.start()
        }
    }

    /// Applies `change` to connection `number`'s record.
    func record(_ number: Int, _ change: (inout ConnectionRecord) -> Void) {
        lock.withLock { change(&records[number - 1]) }
    }

    func snapshot() -> [ConnectionRecord] { lock.withLock { records } }

    func stop() {
        let streams: [TCPStream]? = lock.withLock {
            if stopping { return nil }
            stopping = true
            return Array(openStreams.values)
        }
        if let streams {
            for stream in streams { stream.shutdown() }
        }
        _ = threads.wait(timeout: .now() + 10)
    }

    /// Sleeps `seconds` in small steps; false when the server is stopping.
    func sleep(_ seconds: Double) -> Bool {
        let end = Date(timeIntervalSinceNow: seconds)
        while Date() < end {
            if isStopping { return false }
            Thread.sleep(forTimeInterval: min(0.01, max(0, end.timeIntervalSinceNow)))
        }
        return !isStopping
    }
}
