import ApusTestSupport
import Foundation
import Testing

/// A `queue_dir` that does not exist yet is created the first time a message
/// must be queued (apus.conf(5)), so a temporary failure still exits 0.
@Test func missingQueueDirectoryIsCreatedOnFirstUse() throws {
    let sandbox = try ApusSandbox(refusing: "")
    let queue = sandbox.directory.file("fresh-queue")
    try sandbox.writeConfig(
        sandbox.settings.replacingOccurrences(of: "queue_dir \(sandbox.queueDirectory)", with: "queue_dir \(queue)"))
    #expect(!FileManager.default.fileExists(atPath: queue))
    let result = try sandbox.run(["a@example.com"], input: "Subject: first\n\nqueued\n")
    #expect(result.status == 0, "\(result.summary)")
    #expect(result.stderr.hasPrefix("apus: queued "))
    let entries = try FileManager.default.contentsOfDirectory(atPath: queue)
    #expect(entries.filter { $0.hasSuffix(".msg") }.count == 1)
    var info = stat()
    #expect(stat(queue, &info) == 0)
    #expect(info.st_mode & 0o777 == 0o700, "not setgid here: private to the caller")
}
