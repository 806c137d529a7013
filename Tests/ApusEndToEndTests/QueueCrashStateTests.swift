import ApusTestSupport
import Foundation
import Glibc
import Testing

/// Crash states (issue #19): the file operations of four scenarios are
/// recorded with strace, and every on-disk state the POSIX persistence model
/// allows at every crash point is rebuilt in a fresh queue directory: a file's
/// writes (and truncations) may each be lost, kept, or kept as zeros (size
/// without data) until the file's fsync; a directory's entries (creations,
/// renames, removals) may each be lost or kept until the directory's fsync.
/// All combinations where few operations are pending, a sample (seed printed,
/// `APUS_TEST_SEED` replays it) where many. On each state `-bp` and then `-qf`
/// run against a live relay, and:
/// - no state loses a message reported queued (or queued before the run):
///   each of its recipients gets it from the replay unless the recorded run
///   had the relay's 250 for it before the crash point;
/// - none leaves a message listed but undeliverable: `mailq` reads every file
///   of every state, the replay exits 0 and leaves nothing listed nor corrupt;
/// - none delivers a partial or corrupted message: every copy the relay gets
///   is the queued bytes (a notice: whole, naming the refused recipient);
/// - duplicates only after the relay's 250: the replay sends each message to
///   each recipient at most once, and a copy the recorded run already had
///   accepted is counted as a duplicate (printed).
@Suite(.serialized) struct QueueCrashStateTests {
    enum Scenario: String, CaseIterable, Sendable {
        /// (a) `-bm` with the relay down and no queue directory yet: created, then queued.
        case queuedSubmission
        /// (b) `-qf`: the queued message is delivered and removed.
        case deliveringRun
        /// (c) `-qf` to a relay refusing one of two recipients: a failure notice is queued and sent.
        case noticeRun
        /// (d) `-qf` to a relay deferring one of two recipients: the envelope is updated.
        case partialRun
        /// A 200 KB message queued (several writes, the header written last).
        case largeSubmission
        /// (d) on a message with 80 KB of records: the update compacts the file.
        case compactingRun
        /// (d) on a version-1 message (`.env` and `.data`, an upgraded queue).
        case versionOneRun
    }

    /// The most states replayed per scenario before sampling.
    static let stateBudget = 48

    @Test(.enabled(if: QueueDurabilityTests.hasStrace, "needs strace"), arguments: Scenario.allCases)
    func everyCrashStateKeepsTheInvariants(scenario: Scenario) throws {
        let started = Date()
        var random = SeededGenerator.fromEnvironment()
        let harness = try QueueHarness()
        let subject = "crash-\(scenario.rawValue)"
        let recipients =
            [.deliveringRun, .queuedSubmission, .largeSubmission].contains(scenario)
            ? ["rcpt@example.com"] : ["ok@example.com", "bad@example.com"]
        let sender = "me@test.example"
        let down = try harness.downConfig()

        // Before the recorded command: the queue as it is (durable), the message queued in it.
        var relay: ScriptableSMTPServer? = nil
        var queuedContent: [UInt8]? = nil
        let arguments: [String]
        var input: [UInt8] = []
        switch scenario {
        case .queuedSubmission, .largeSubmission:
            // (a) creates its queue directory: the parent's fsync is part of the record.
            // (only root's apus creates a queue directory: elsewhere it stays).
            if scenario == .queuedSubmission && getuid() == 0 {
                try FileManager.default.removeItem(atPath: harness.queue)
            }
            arguments = ["-C", down, "-f", sender, "-i", "--"] + recipients
            let line = String(repeating: "y", count: 99) + "\n"
            let body = scenario == .largeSubmission ? String(repeating: line, count: 2000) : "hello\n"
            input = QueueHarness.message(subject: subject, body: body)
        case .deliveringRun, .noticeRun, .partialRun, .compactingRun, .versionOneRun:
            let queued = try harness.submit(down, subject: subject, to: recipients, sender: sender)
            let id = try #require(parseQueuedLine(queued)?.id, "\(queued.stderr)")
            queuedContent = try harness.content(id)
            if scenario == .compactingRun {
                var text = try harness.envelope(id)
                text.removeLast(4)  // "end\n"
                text += "x-pad: " + String(repeating: "p", count: 4000) + "\nend\n"
                for _ in 0..<20 { try harness.replaceEnvelope(id, text) }
            }
            if scenario == .versionOneRun { try downgradeToVersionOne(queueDirectory: harness.queue) }
            let server = try dataServer {
                if scenario == .noticeRun { $0.on("RCPT", occurrence: 2, connection: 1, "550 5.1.1 no such user") }
                if [.partialRun, .compactingRun, .versionOneRun].contains(scenario) {
                    $0.on("RCPT", occurrence: 2, "451 4.2.0 later")
                }
            }
            relay = server
            arguments = ["-C", try harness.config("up.conf", port: server.port), "-qf"]
        }
        let model = try CrashModel(root: harness.directory.path, queue: harness.queue)

        // The recorded run.
        let tracePath = harness.directory.file("trace.txt")
        var env = ProcessInfo.processInfo.environment
        env["APUS_FAULT"] = nil
        let recorded = try Subprocess.run(
            QueueDurabilityTests.strace,
            arguments: ["-f", "-y", "-xx", "-s", "4194304", "-o", tracePath, "-e", "trace=" + CrashModel.syscalls]
                + [harness.executable] + arguments,
            environment: env, standardInput: input, timeout: 60)
        relay?.stop()
        try #require(recorded.status == 0, "recorded run: \(recorded.stderr)")
        try model.load(trace: try String(contentsOfFile: tracePath, encoding: .utf8))
        if scenario == .queuedSubmission || scenario == .largeSubmission {
            queuedContent = try harness.content(try #require(parseQueuedLine(recorded)?.id, "\(recorded.stderr)"))
        }
        let content = try #require(queuedContent)
        // The relay's 250s in the recorded run, in order, each with what it accepted.
        let accepted = (relay?.messages ?? []).filter(\.accepted)
        try #require(
            accepted.count == model.dataReplies.count, "replies \(model.dataReplies) for \(accepted.count) messages")

        var states = 0
        var seen = Set<String>()
        var duplicates: [String] = []
        var sampled = false
        for point in 0...model.events.count {
            let choices = model.states(at: point, budget: Self.stateBudget, random: &random)
            sampled = sampled || choices.sampled
            for (index, state) in choices.states.enumerated() {
                let reportedQueued =
                    (scenario != .queuedSubmission && scenario != .largeSubmission)
                    || model.reported.map { $0 <= point } == true
                let repliesBefore = model.dataReplies.filter { $0 < point }.count
                guard seen.insert("\(state.signature) \(reportedQueued) \(repliesBefore)").inserted else { continue }
                states += 1
                let context = Comment(
                    rawValue: "\(scenario) crash point \(point)/\(model.events.count) state \(index) "
                        + "seed \(random.seed): "
                        + model.describe(point))
                // What the recorded run had had accepted before this point.
                var before: [String: Set<String>] = [:]
                for (reply, message) in zip(model.dataReplies, accepted) where reply < point {
                    before[Self.key(message), default: []].formUnion(message.recipientAddresses)
                }
                try check(
                    state, harness: harness, scenario: scenario, subject: subject, message: content,
                    recipients: recipients, sender: sender, acceptedBefore: before, reportedQueued: reportedQueued,
                    duplicates: &duplicates, context: context)
            }
        }
        let seconds = Int(Date().timeIntervalSince(started))
        print(
            "crash states \(scenario): \(model.events.count) operations "
                + "(\(model.events.map(\.description).joined(separator: "; "))), "
                + "\(model.dataReplies.count) relay 250s, \(states) distinct states in \(seconds) s"
                + "\(sampled ? " (sampled, seed \(random.seed))" : ""); duplicates after a 250: \(duplicates.count)")
        #expect(states >= 2)
    }

    /// "subject" for an original, "notice" for a failure notice.
    static func key(_ message: ApusTestSupport.ReceivedMessage) -> String {
        message.sender.isEmpty ? "notice" : (subjectHeader(of: message.text) ?? "?")
    }

    func check(
        _ state: CrashModel.State, harness: QueueHarness, scenario: Scenario, subject: String, message: [UInt8],
        recipients: [String], sender: String, acceptedBefore: [String: Set<String>], reportedQueued: Bool,
        duplicates: inout [String], context: Comment
    ) throws {
        let place = try harness.directory.makeDirectory("state", mode: 0o755)
        defer { try? FileManager.default.removeItem(atPath: place) }
        let queue = place + "/q"
        try state.materialize(at: queue)
        let relay = try dataServer()
        defer { relay.stop() }
        let config = try harness.config("state.conf", port: relay.port, queueDirectory: queue)

        let listed = try harness.apus(["-C", config, "-bp", "--json"])
        #expect(listed.status == 0 && listed.stderr.isEmpty, "mailq: \(listed.stderr) \(context)")
        let run = try harness.apus(["-C", config, "-qf"])
        #expect(run.status == 0, "replay: \(run.stderr) \(context)")
        let after = try harness.apus(["-C", config, "-bp"])
        #expect(
            after.stdout == "Mail queue is empty\n" && after.stderr.isEmpty,
            "left listed: \(after.stdout)\(after.stderr) \(context)")
        #expect(!FileManager.default.fileExists(atPath: queue + "/corrupt"), "a state made a corrupt file: \(context)")

        var got: [String: [String: Int]] = [:]
        for copy in relay.messages where copy.accepted {
            let key = Self.key(copy)
            for recipient in copy.recipientAddresses { got[key, default: [:]][recipient, default: 0] += 1 }
            if key == "notice" {
                #expect(copy.recipientAddresses == [sender], context)
                #expect(
                    copy.text.contains("bad@example.com") && copy.text.hasSuffix("--\r\n"),
                    "a partial notice: \(context)")
            } else {
                let whole = QueueFaultInjectionTests.Iteration.sameMessage(copy.data, message)
                #expect(whole, "a partial copy: \(context)")
            }
        }
        for (key, counts) in got {
            for (recipient, count) in counts {
                #expect(count == 1, "\(key) sent \(count) times to \(recipient) by one run: \(context)")
                if acceptedBefore[key]?.contains(recipient) == true { duplicates.append("\(key)→\(recipient)") }
            }
        }
        // Nothing lost.
        guard reportedQueued else { return }
        for recipient in recipients {
            let had = acceptedBefore[subject]?.contains(recipient) == true || got[subject]?[recipient] != nil
            if scenario == .noticeRun && recipient == "bad@example.com" {
                let notified = acceptedBefore["notice"] != nil || got["notice"] != nil
                #expect(had || notified, "bad@ neither delivered nor notified: \(context)")
            } else {
                #expect(had, "lost for \(recipient): \(context)")
            }
        }
    }
}

/// The recorded file operations under one directory, and the states a crash
/// may leave (see ``QueueCrashStateTests``).
final class CrashModel {
    static let syscalls =
        "openat,close,write,pwrite64,ftruncate,fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,"
        + "read,sendto,recvfrom"

    /// A node a directory entry names.
    enum Node: Equatable {
        case file(Int)
        case directory(String)
    }

    /// One recorded operation that changes what a crash may leave.
    enum Event: CustomStringConvertible {
        case write(file: Int, offset: Int, bytes: [UInt8])
        case truncate(file: Int, length: Int)
        case syncFile(Int)
        /// Directory `directory`: entry `name` set to `node`, or removed (nil).
        case entry(directory: String, name: String, node: Node?)
        case syncDirectory(String)

        var description: String {
            switch self {
            case .write(let file, let offset, let bytes): "write #\(file) @\(offset) +\(bytes.count)"
            case .truncate(let file, let length): "truncate #\(file) to \(length)"
            case .syncFile(let file): "fsync #\(file)"
            case .entry(let directory, let name, let node):
                "\(node == nil ? "unlink" : "link") \((directory as NSString).lastPathComponent)/\(name)"
            case .syncDirectory(let directory): "fsync \((directory as NSString).lastPathComponent)/"
            }
        }
    }

    let root: String
    let queue: String
    private(set) var events: [Event] = []
    /// Event counts at which the relay's reply to a message's end of data was read.
    private(set) var dataReplies: [Int] = []
    /// The event count at which the submitter wrote its "queued" line.
    private(set) var reported: Int?

    // Before the recorded command (all durable) and while reading the trace.
    private var initialFiles: [Int: [UInt8]] = [:]
    private var initialEntries: [String: [String: Node]] = [:]
    private var liveEntries: [String: [String: Node]] = [:]
    private var nextFile = 0
    private var descriptors: [String: (node: Node, offset: Int)] = [:]

    /// The queue as it is now under `root` (the queue directory and its `corrupt/`).
    init(root: String, queue: String) throws {
        self.root = root
        self.queue = queue
        initialEntries[root] = [:]
        if FileManager.default.fileExists(atPath: queue) {
            initialEntries[root]?[(queue as NSString).lastPathComponent] = .directory(queue)
            try scan(queue)
        }
        liveEntries = initialEntries
    }

    private func scan(_ directory: String) throws {
        initialEntries[directory] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            let path = directory + "/" + name
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            if isDirectory.boolValue {
                initialEntries[directory]?[name] = .directory(path)
                try scan(path)
            } else {
                nextFile += 1
                initialFiles[nextFile] = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
                initialEntries[directory]?[name] = .file(nextFile)
            }
        }
    }

    // MARK: Reading the trace

    struct Unreadable: Error, CustomStringConvertible { var description: String }

    func load(trace: String) throws {
        var dataEnded = false
        for line in trace.split(separator: "\n") {
            guard let match = line.wholeMatch(of: /(\d+) +([a-z0-9_]+)\((.*)\) += (-?\d+)(<.*>)?.*/) else { continue }
            let pid = String(match.1)
            let call = String(match.2)
            let arguments = Self.arguments(String(match.3))
            guard let result = Int(match.4), result >= 0 else { continue }
            func path(_ index: Int) -> String? {
                guard index < arguments.count else { return nil }
                if case .string(let bytes) = arguments[index] { return String(decoding: bytes, as: UTF8.self) }
                return nil
            }
            let names = arguments.compactMap { argument -> String? in
                if case .string(let bytes) = argument { return String(decoding: bytes, as: UTF8.self) }
                return nil
            }
            func tracked(_ name: String) -> Bool { name == root || name == queue || name.hasPrefix(queue + "/") }
            func descriptor(_ index: Int) -> (number: Int, path: String)? {
                guard index < arguments.count, case .descriptor(let number, let path) = arguments[index] else {
                    return nil
                }
                return (number, path)
            }
            switch call {
            case "close":
                if let (number, _) = descriptor(0) { descriptors["\(pid)/\(number)"] = nil }
            case "openat":
                descriptors["\(pid)/\(result)"] = nil
                guard let name = path(1), tracked(name) else { continue }
                let flags: String = {
                    if arguments.count > 2, case .word(let text) = arguments[2] { return text }
                    return ""
                }()
                let node: Node
                if let existing = lookup(name) {
                    node = existing
                } else if flags.contains("O_CREAT") {
                    nextFile += 1
                    node = .file(nextFile)
                    record(.entry(directory: parent(name), name: leaf(name), node: node))
                } else {
                    continue
                }
                descriptors["\(pid)/\(result)"] = (node, 0)
            case "write", "pwrite64", "sendto":
                guard let (number, target) = descriptor(0), arguments.count > 1,
                    case .string(let written) = arguments[1]
                else { continue }
                let bytes = Array(written.prefix(result))
                if target.hasPrefix("socket:") || target.hasPrefix("TCP") {
                    let text = String(decoding: bytes, as: UTF8.self)
                    if text.hasSuffix("\r\n.\r\n") || text == ".\r\n" { dataEnded = true }
                    continue
                }
                if number == 2 && String(decoding: bytes, as: UTF8.self).hasPrefix("apus: queued ") {
                    reported = events.count
                    continue
                }
                guard let open = descriptors["\(pid)/\(number)"], case .file(let file) = open.node else { continue }
                if call == "pwrite64" {
                    guard arguments.count > 3, case .word(let offsetText) = arguments[3], let offset = Int(offsetText)
                    else {
                        throw Unreadable(description: "pwrite64 without offset: \(line)")
                    }
                    record(.write(file: file, offset: offset, bytes: bytes))
                } else {
                    record(.write(file: file, offset: open.offset, bytes: bytes))
                    descriptors["\(pid)/\(number)"]?.offset += bytes.count
                }
            case "read", "recvfrom":
                guard let (_, target) = descriptor(0), target.hasPrefix("socket:") || target.hasPrefix("TCP") else {
                    continue
                }
                if dataEnded {
                    dataEnded = false
                    dataReplies.append(events.count)
                }
            case "ftruncate":
                guard let (number, _) = descriptor(0), let open = descriptors["\(pid)/\(number)"],
                    case .file(let file) = open.node, arguments.count > 1, case .word(let text) = arguments[1],
                    let length = Int(text)
                else { continue }
                record(.truncate(file: file, length: length))
            case "fsync", "fdatasync":
                guard let (number, _) = descriptor(0), let open = descriptors["\(pid)/\(number)"] else { continue }
                switch open.node {
                case .file(let file): record(.syncFile(file))
                case .directory(let directory): record(.syncDirectory(directory))
                }
            case "rename", "renameat", "renameat2":
                guard names.count == 2, tracked(names[0]), let node = lookup(names[0]) else { continue }
                if parent(names[0]) == parent(names[1]) {
                    // One directory: the rename is one entry change (both names at once).
                    let renamed = Event.entry(directory: parent(names[1]), name: leaf(names[1]), node: node)
                    record(renamed, alsoRemoving: leaf(names[0]))
                } else {
                    record(.entry(directory: parent(names[1]), name: leaf(names[1]), node: node))
                    record(.entry(directory: parent(names[0]), name: leaf(names[0]), node: nil))
                }
            case "unlink", "unlinkat":
                guard let name = names.first, tracked(name), lookup(name) != nil else { continue }
                record(.entry(directory: parent(name), name: leaf(name), node: nil))
            case "mkdir", "mkdirat":
                guard let name = names.first, tracked(name) else { continue }
                liveEntries[name] = [:]
                record(.entry(directory: parent(name), name: leaf(name), node: .directory(name)))
            default:
                continue
            }
        }
    }

    /// Renames within one directory pair the removal of the old name with the new one.
    private var renameRemovals: [Int: String] = [:]

    private func record(_ event: Event, alsoRemoving old: String? = nil) {
        if let old { renameRemovals[events.count] = old }
        events.append(event)
        if case .entry(let directory, let name, let node) = event {
            if let old { liveEntries[directory]?[old] = nil }
            liveEntries[directory, default: [:]][name] = node
        }
    }

    private func parent(_ path: String) -> String { (path as NSString).deletingLastPathComponent }
    private func leaf(_ path: String) -> String { (path as NSString).lastPathComponent }
    private func lookup(_ path: String) -> Node? {
        if path == root { return .directory(root) }
        if liveEntries[path] != nil { return .directory(path) }
        return liveEntries[parent(path)]?[leaf(path)]
    }

    func describe(_ point: Int) -> String {
        point == 0 ? "before the first operation" : "after \(events[point - 1])"
    }

    // MARK: States

    /// One crash state: the directories' entries and the files' bytes.
    struct State {
        var entries: [String: [String: Node]]
        var files: [Int: [UInt8]]
        let queue: String

        /// What the state holds under the queue directory, for telling states apart.
        var signature: String {
            let parentDirectory = (queue as NSString).deletingLastPathComponent
            guard entries[parentDirectory]?[(queue as NSString).lastPathComponent] == .directory(queue) else {
                return "-"
            }
            func describe(_ directory: String) -> String {
                (entries[directory] ?? [:]).sorted { $0.key < $1.key }.map { name, node in
                    switch node {
                    case .file(let file):
                        let bytes = files[file] ?? []
                        // FNV-1a: tells contents apart without keeping them.
                        let hash = bytes.reduce(into: UInt64(1_469_598_103_934_665_603)) {
                            $0 = ($0 ^ UInt64($1)) &* 1_099_511_628_211
                        }
                        return "\(name):\(bytes.count):\(hash)"
                    case .directory(let sub): return "\(name)/[\(describe(sub))]"
                    }
                }.joined(separator: ",")
            }
            return describe(queue)
        }

        /// Writes the queue directory (if it survived) as the state has it, at `path`.
        func materialize(at path: String) throws {
            let parentDirectory = (queue as NSString).deletingLastPathComponent
            guard entries[parentDirectory]?[(queue as NSString).lastPathComponent] == .directory(queue) else { return }
            try write(queue, to: path)
        }

        private func write(_ directory: String, to path: String) throws {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            for (name, node) in entries[directory] ?? [:] {
                switch node {
                case .file(let file): try Data(files[file] ?? []).write(to: URL(fileURLWithPath: path + "/" + name))
                case .directory(let sub): try write(sub, to: path + "/" + name)
                }
            }
        }
    }

    /// A pending change: how a crash may have kept it.
    private enum Pending {
        case file(Int, Event)
        case directory(String, Int)  // the event's index
    }

    /// The states a crash after the first `point` events may leave: every
    /// combination of what is pending (a write lost, kept or zeros; a truncation
    /// or directory entry lost or kept), or `budget` of them at random.
    func states(at point: Int, budget: Int, random: inout SeededGenerator) -> (states: [State], sampled: Bool) {
        var durableFiles = initialFiles
        var durableEntries = initialEntries
        var pendingFile: [Int: [Event]] = [:]
        var pendingDirectory: [String: [Int]] = [:]
        for (index, event) in events.prefix(point).enumerated() {
            switch event {
            case .write(let file, _, _), .truncate(let file, _):
                pendingFile[file, default: []].append(event)
            case .syncFile(let file):
                for change in pendingFile[file] ?? [] { Self.apply(change, keep: 1, to: &durableFiles) }
                pendingFile[file] = nil
            case .entry(let directory, _, _):
                pendingDirectory[directory, default: []].append(index)
            case .syncDirectory(let directory):
                for change in pendingDirectory[directory] ?? [] { apply(change, to: &durableEntries) }
                pendingDirectory[directory] = nil
            }
        }
        var pending: [Pending] = []
        for file in pendingFile.keys.sorted() { pending += (pendingFile[file] ?? []).map { .file(file, $0) } }
        for directory in pendingDirectory.keys.sorted() {
            pending += (pendingDirectory[directory] ?? []).map { .directory(directory, $0) }
        }
        let ways = pending.map { item -> Int in
            if case .file(_, .write) = item { return 3 }
            return 2
        }
        var total = 1
        for way in ways { total = total > budget ? total : total * way }
        let sampled = total > budget
        var choices: [[Int]] = []
        if sampled {
            // Always the two extremes (nothing kept, everything kept), then random ones.
            choices.append(ways.map { _ in 0 })
            choices.append(ways.map { _ in 1 })
            while choices.count < budget { choices.append(ways.map { Int.random(in: 0..<$0, using: &random) }) }
        } else {
            choices = [[]]
            for way in ways { choices = choices.flatMap { prefix in (0..<way).map { prefix + [$0] } } }
        }
        let states = choices.map { choice -> State in
            var files = durableFiles
            var entries = durableEntries
            for (item, keep) in zip(pending, choice) where keep > 0 {
                switch item {
                case .file(_, let event): Self.apply(event, keep: keep, to: &files)
                case .directory(_, let index): apply(index, to: &entries)
                }
            }
            return State(entries: entries, files: files, queue: queue)
        }
        return (states, sampled)
    }

    /// A file change: `keep` 1 as written, 2 as zeros (the size without the data).
    private static func apply(_ event: Event, keep: Int, to files: inout [Int: [UInt8]]) {
        switch event {
        case .write(let file, let offset, let bytes):
            var content = files[file] ?? []
            if content.count < offset + bytes.count {
                content += [UInt8](repeating: 0, count: offset + bytes.count - content.count)
            }
            let kept = keep == 2 ? [UInt8](repeating: 0, count: bytes.count) : bytes
            content.replaceSubrange(offset..<(offset + bytes.count), with: kept)
            files[file] = content
        case .truncate(let file, let length):
            var content = files[file] ?? []
            if content.count > length {
                content.removeSubrange(length...)
            } else {
                content += [UInt8](repeating: 0, count: length - content.count)
            }
            files[file] = content
        default:
            break
        }
    }

    private func apply(_ index: Int, to entries: inout [String: [String: Node]]) {
        guard case .entry(let directory, let name, let node) = events[index] else { return }
        if let old = renameRemovals[index] { entries[directory]?[old] = nil }
        entries[directory, default: [:]][name] = node
        if case .directory(let path) = node, entries[path] == nil { entries[path] = [:] }
    }

    // MARK: Parsing strace -xx arguments

    enum Argument {
        case string([UInt8])
        case descriptor(Int, String)
        case word(String)
    }

    /// The arguments of one call, split at top-level commas.
    static func arguments(_ text: String) -> [Argument] {
        var result: [Argument] = []
        var current = ""
        var inString = false
        var depth = 0
        var previous: Character = " "
        func finish() {
            let item = current.trimmingCharacters(in: .whitespaces)
            current = ""
            if item.hasPrefix("\"") {
                var body = item.dropFirst()
                if let end = body.lastIndex(of: "\"") { body = body[..<end] }
                result.append(.string(decode(String(body))))
            } else if let open = item.firstIndex(of: "<"), let number = Int(item[..<open]), item.hasSuffix(">") {
                let inner = item[item.index(after: open)..<item.index(before: item.endIndex)]
                result.append(.descriptor(number, String(decoding: decode(String(inner)), as: UTF8.self)))
            } else {
                result.append(.word(item))
            }
        }
        for character in text {
            if inString {
                current.append(character)
                if character == "\"" && previous != "\\" { inString = false }
            } else if character == "\"" {
                inString = true
                current.append(character)
            } else if character == "<" || character == "[" || character == "{" {
                depth += 1
                current.append(character)
            } else if character == ">" || character == "]" || character == "}" {
                depth -= 1
                current.append(character)
            } else if character == "," && depth == 0 {
                finish()
            } else {
                current.append(character)
            }
            previous = character
        }
        if !current.trimmingCharacters(in: .whitespaces).isEmpty { finish() }
        return result
    }

    /// `\xNN` sequences (strace -xx) to bytes.
    static func decode(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let first = utf8.first {
            if first == UInt8(ascii: "\\"), utf8.count >= 4, utf8.dropFirst().first == UInt8(ascii: "x"),
                let value = UInt8(String(decoding: utf8.dropFirst(2).prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(4)
            } else {
                bytes.append(first)
                utf8 = utf8.dropFirst()
            }
        }
        return bytes
    }
}
