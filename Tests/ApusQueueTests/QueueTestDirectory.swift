import ApusPOSIX
import ApusQueue
import Glibc

/// A fresh directory under /tmp, removed (with everything in it) by `remove()`.
struct QueueTestDirectory {
    let path: String

    init() {
        var template = Array("/tmp/apus-queue-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
            return String(cString: result)
        }
        guard let made else { preconditionFailure("mkdtemp failed") }
        path = made
    }

    func names() -> [String] {
        ((try? FileSystem.contentsOfDirectory(path)) ?? []).sorted()
    }

    func remove() {
        for name in names() { try? FileSystem.unlink("\(path)/\(name)") }
        try? FileSystem.removeDirectory(path)
    }

    func store(faults: FaultInjection = .none) throws -> QueueStore {
        try QueueStore(directory: path, groupID: nil, faults: faults)
    }
}

func sampleEnvelope(arrival: Int64 = 1_700_000_000, sender: String = "cron@host.example.com") -> Envelope {
    Envelope(
        sender: sender,
        recipients: [
            QueueRecipient(address: "admin@example.com"),
            QueueRecipient(address: "bob@Example.ORG", state: .sent, lastReply: "250 2.0.0 Ok"),
        ],
        account: "work", arrivalTime: arrival)
}
