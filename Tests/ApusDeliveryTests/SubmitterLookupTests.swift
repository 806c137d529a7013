import ApusConfig
import ApusDelivery
import ApusPOSIX
import ApusTestSupport
import Foundation
import Synchronization
import Testing

/// The caller's names (NSS: nsswitch.conf, /etc/passwd, possibly a directory
/// service) are looked up only when a submission needs them, and once; Date
/// and Message-ID are made only for a message without them.
@Suite struct SubmitterLookupTests {
    /// Counts the look-ups and answers with fixed names.
    final class Directory: Sendable {
        let calls = Mutex(0)
        var count: Int { calls.withLock { $0 } }

        func submitter() -> Submitter {
            Submitter {
                self.calls.withLock { $0 += 1 }
                return (login: "looked", fullName: "Looked Up")
            }
        }
    }

    @Test func looksUpOnFirstUseOnly() {
        let directory = Directory()
        let submitter = directory.submitter()
        #expect(directory.count == 0)
        #expect(submitter.login == "looked")
        #expect(submitter.fullName == "Looked Up")
        #expect(submitter.login == "looked")
        #expect(directory.count == 1)
        let known = Submitter(login: "kim", fullName: "Kim")
        #expect(known.login == "kim" && known.fullName == "Kim")
    }

    /// Submits `message` through smtp-sink with an account whose `from` is
    /// `from` (none when nil); returns the saved message and the look-ups made.
    func submit(_ message: String, from: String?) throws -> (SMTPSink.SavedMessage, Int) {
        let sink = try SMTPSink(saveMessages: true)
        defer { sink.stop() }
        let queue = try TemporaryDirectory()
        var text = """
            queue on
            queue_dir \(queue.path)
            log off
            host \(sink.host)
            port \(sink.port)
            domain test.example

            """
        if let from { text += "from \(from)\n" }
        let configuration = try Configuration.parse(Array(text.utf8), file: "test.conf", localDomain: { "local" })
        let directory = Directory()
        let submission = Submission(
            configuration: configuration, submitter: directory.submitter(), trace: nil, queueGroup: nil)
        var request = SubmissionRequest()
        request.recipients = ["rcpt@y.example"]
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        try FileDescriptor(rawValue: fds[1]).writeAll(Array(message.utf8))
        close(fds[1])
        defer { close(fds[0]) }
        let report = try submission.run(request, input: FileDescriptor(rawValue: fds[0]))
        #expect(report.outcome == .sent)
        let saved = try #require(try sink.waitForMessages(1).first)
        return (saved, directory.count)
    }

    @Test func messageWithFromThroughAccountWithFromAsksNobody() throws {
        let (saved, lookups) = try submit(
            "From: Pat <pat@test.example>\nSubject: s\n\nbody\n", from: "sender@test.example")
        #expect(saved.mailArguments.hasPrefix("<sender@test.example>"), "\(saved.mailArguments)")
        #expect(saved.text.contains("From: Pat <pat@test.example>\n"), "\(saved.text)")
        #expect(lookups == 0)
    }

    @Test func addedFromGetsTheLookedUpFullName() throws {
        let (saved, lookups) = try submit("Subject: s\n\nbody\n", from: "sender@test.example")
        #expect(saved.text.contains("From: \"Looked Up\" <sender@test.example>\n"), "\(saved.text)")
        #expect(lookups == 1)
    }

    @Test func senderWithoutFromIsTheLookedUpLogin() throws {
        let (saved, lookups) = try submit("From: Pat <pat@test.example>\nSubject: s\n\nbody\n", from: nil)
        #expect(saved.mailArguments.hasPrefix("<looked@test.example>"), "\(saved.mailArguments)")
        #expect(lookups == 1)
    }

    @Test func ownDateAndMessageIDAreKeptMissingOnesAdded() throws {
        let own =
            "From: Pat <pat@test.example>\nDate: Mon, 23 Nov 2026 12:00:00 +0000\nMessage-ID: <own@x.example>\n\nb\n"
        let (kept, _) = try submit(own, from: "sender@test.example")
        #expect(kept.text.contains("\nDate: Mon, 23 Nov 2026 12:00:00 +0000\n"), "\(kept.text)")
        #expect(kept.text.contains("\nMessage-ID: <own@x.example>\n"), "\(kept.text)")
        #expect(kept.text.components(separatedBy: "\nDate: ").count == 2)
        #expect(kept.text.components(separatedBy: "\nMessage-ID: ").count == 2)

        let (added, _) = try submit("From: Pat <pat@test.example>\n\nb\n", from: "sender@test.example")
        #expect(added.text.components(separatedBy: "\nDate: ").count == 2, "\(added.text)")
        let id = try #require(added.text.components(separatedBy: "\nMessage-ID: <").dropFirst().first)
        #expect(id.prefix(while: { $0 != "\n" }).hasSuffix("@test.example>"), "\(added.text)")
    }
}
