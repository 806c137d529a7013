import ApusTestSupport
import Foundation
import Glibc
import Testing

/// security.md "Secrets": no AUTH of any mechanism goes out over an
/// unencrypted connection to a relay that is not on loopback. Proving it
/// needs a relay on a non-loopback address, so the test makes one in a
/// network namespace of its own (``PrivateNetwork``): 10.255.0.1/24 on one
/// end of a veth pair, the scriptable SMTP server listening there, and apus
/// run inside the namespace with `nsenter`. No packet leaves the namespace.
@Suite(.serialized, .enabled(if: PrivateNetwork.works, "needs root and network namespaces (unshare --net, veth)"))
struct RelayPlaintextNamespaceTests {
    static let password = "s3cret-plaintext-relay-password"

    /// The relay at 10.255.0.1 offers every mechanism over plain text
    /// (`tls off`): whichever `auth` says, it gets EHLO but no AUTH
    /// and no password, and the message is queued with a reason saying why.
    @Test(arguments: ["on", "plain", "login", "cram-md5", "scram-sha-256"])
    func noAuthInClearToANonLoopbackRelay(auth: String) throws {
        let network = try PrivateNetwork()
        defer { network.stop() }
        let server = try network.server {
            $0.extensions += ["AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256"]
            $0.authenticate = { _ in "235 2.7.0 Authentication successful" }
        }
        defer { server.stop() }
        let harness = try QueueHarness()
        let config = try harness.directory.write(
            "apus.conf",
            [
                "queue_dir \(harness.queue)", "log \(harness.logPath)", "host \(PrivateNetwork.address)",
                "port \(server.port)", "tls off", "domain test.example", "timeout 5", "retry 1s",
                "auth \(auth)", "user alice", "password \(Self.password)",
            ].joined(separator: "\n") + "\n", mode: 0o600)

        let result = try network.run(
            harness.executable, ["-C", config, "-i", "--", "rcpt@example.com"],
            input: QueueHarness.message(subject: "plaintext-\(auth)"))
        #expect(result.status == 0, "\(result.stderr)")
        let queued = try #require(parseQueuedLine(result), "\(result.stderr)")
        let peer = "\(PrivateNetwork.address)[\(PrivateNetwork.address)]:\(server.port)"
        #expect(
            queued.reason.contains("\(peer): refusing AUTH over an unencrypted connection"), "\(queued.reason)")
        #expect(try harness.visibleIDs() == [queued.id])

        // apus reached the relay (so the absence of AUTH means something) and sent no AUTH.
        #expect(server.wait { $0.count == 1 && $0[0].isClosed })
        let record = try #require(server.connections.first)
        // EHLO only: apus closes the connection without a QUIT.
        #expect(record.verbs == ["EHLO"], "\(record.commandLines)")
        #expect(record.authLines.isEmpty)
        #expect(!record.verbs.contains("MAIL"), "\(record.commandLines)")
        let bytes = String(decoding: record.received, as: UTF8.self)
        #expect(!bytes.uppercased().contains("AUTH"), "\(bytes)")
        #expect(!bytes.contains(Self.password))
        #expect(!bytes.contains(Data(Self.password.utf8).base64EncodedString()))
        #expect(!harness.log().contains(Self.password))

        // A queue run in the namespace does the same.
        let run = try network.run(harness.executable, ["-C", config, "-qf"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try harness.visibleIDs() == [queued.id])
        #expect(server.wait { $0.count == 2 && $0[1].isClosed })
        #expect(server.connections.allSatisfy { !$0.verbs.contains("AUTH") && $0.authLines.isEmpty })
    }

    /// The same relay without `auth`: the message goes, so the refusal above
    /// is about AUTH in clear and not about reaching 10.255.0.1.
    @Test func withoutAuthTheMessageGoes() throws {
        let network = try PrivateNetwork()
        defer { network.stop() }
        let server = try network.server { $0.extensions += ["AUTH PLAIN LOGIN"] }
        defer { server.stop() }
        let harness = try QueueHarness()
        let config = try harness.directory.write(
            "apus.conf",
            [
                "queue_dir \(harness.queue)", "log \(harness.logPath)", "host \(PrivateNetwork.address)",
                "port \(server.port)", "tls off", "domain test.example", "timeout 5",
            ].joined(separator: "\n") + "\n")
        let result = try network.run(
            harness.executable, ["-C", config, "-i", "--", "rcpt@example.com"],
            input: QueueHarness.message(subject: "plaintext-no-auth"))
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stderr)")
        #expect(acceptedSubjects(server)["plaintext-no-auth"] == 1)
        #expect(try harness.visibleIDs().isEmpty)
    }
}

/// A network namespace for one test: made by `unshare --net` around a shell
/// that sets up loopback and a veth pair (``address``/24 on `apusv0`), then
/// waits on its standard input; closing that (``stop()``) ends it and the
/// namespace with it. Servers are made inside it by a thread that enters it
/// with `setns` (the listening socket stays in the namespace it was made in);
/// programs run inside it through `nsenter --net`.
final class PrivateNetwork: @unchecked Sendable {
    /// The relay's address inside the namespace: not loopback.
    static let address = "10.255.0.1"

    /// Whether this machine lets the tests make one (root, unshare, veth).
    static let works: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"),
            FileManager.default.isExecutableFile(atPath: "/usr/bin/nsenter")
        else { return false }
        guard let network = try? PrivateNetwork() else { return false }
        network.stop()
        return true
    }()

    private let process = Process()
    private let input = Pipe()
    /// `/proc/PID/ns/net` of the namespace's holder.
    let namespacePath: String

    init() throws {
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        process.arguments = [
            "--net", "--", "/bin/sh", "-ec",
            """
            ip link set lo up
            ip link add apusv0 type veth peer name apusv1
            ip addr add \(Self.address)/24 dev apusv0
            ip link set apusv1 up
            ip link set apusv0 up
            echo ready
            exec cat >/dev/null
            """,
        ]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        namespacePath = "/proc/\(process.processIdentifier)/ns/net"
        var said = Data()
        while !String(decoding: said, as: UTF8.self).contains("ready\n") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty {
                stop()
                throw NamespaceError(description: "no network namespace: \(String(decoding: said, as: UTF8.self))")
            }
            said += chunk
        }
    }

    /// Ends the namespace's holder (end of its input, then SIGTERM if need be) and reaps it.
    func stop() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    /// A scriptable SMTP server listening on ``address`` inside the namespace.
    func server(_ script: (inout ScriptableSMTPServer.Configuration) -> Void = { _ in }) throws
        -> ScriptableSMTPServer
    {
        var configuration = ScriptableSMTPServer.Configuration()
        configuration.listenHost = Self.address
        script(&configuration)
        let made = configuration
        let path = namespacePath
        let box = ResultBox<ScriptableSMTPServer>()
        // A thread of its own enters the namespace and ends after making the
        // listener, so no other work of the test process ever runs inside it.
        let thread = Thread {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            defer { if fd >= 0 { close(fd) } }
            if fd < 0 || enterNamespace(fd) != 0 {
                box.set(.failure(NamespaceError(description: "setns \(path): \(String(cString: strerror(errno)))")))
                return
            }
            box.set(Result { try ScriptableSMTPServer(made) })
        }
        thread.start()
        return try box.wait().get()
    }

    /// Runs `executable arguments…` inside the namespace.
    func run(_ executable: String, _ arguments: [String], input: [UInt8] = []) throws -> SubprocessResult {
        var environment = ProcessInfo.processInfo.environment
        environment["APUS_FAULT"] = nil
        return try Subprocess.run(
            "/usr/bin/nsenter", arguments: ["--net=\(namespacePath)", "--", executable] + arguments,
            environment: environment, standardInput: input, timeout: 30)
    }
}

/// A namespace that cannot be made or entered.
struct NamespaceError: Error, CustomStringConvertible {
    var description: String
}

/// `setns(fd, CLONE_NEWNET)` for the calling thread (Glibc's module map
/// leaves `setns` out, so it is looked up by name).
private func enterNamespace(_ fd: Int32) -> Int32 {
    typealias SetNS = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(nil, "setns") else {
        errno = ENOSYS
        return -1
    }
    let cloneNewNet: Int32 = 0x4000_0000
    return unsafeBitCast(symbol, to: SetNS.self)(fd, cloneNewNet)
}
