import ApusTestSupport
import ApusTransport
import Foundation
import Testing

/// The private-postfix command (Tests/support/private-postfix): PostfixServer
/// for bench/, which reads its one JSON line and stops it by its PID.
@Suite("private-postfix command", .serialized)
struct PrivatePostfixCommandTests {
    /// Built next to the test binary (`.build/<triple>/debug/apusPackageTests.xctest`): this target depends on it.
    static func command() throws -> String {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        return (exe as NSString).deletingLastPathComponent + "/private-postfix"
    }

    struct Started {
        var process: Process
        var input: Pipe
        var info: [String: Any]
        func int(_ key: String) -> Int { info[key] as? Int ?? 0 }
        func string(_ key: String) -> String { info[key] as? String ?? "" }
    }

    /// Starts the command and reads its description line.
    static func start() throws -> Started {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try command())
        process.arguments = ["--user", "bench:secret", "--domain", "bench.example"]
        let output = Pipe()
        let input = Pipe()
        process.standardOutput = output
        process.standardInput = input
        try process.run()
        var line = Data()
        while !line.contains(10) {
            let more = output.fileHandleForReading.availableData
            if more.isEmpty { break }
            line += more
        }
        let info = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any], "\(line)")
        return Started(process: process, input: input, info: info)
    }

    @Test func describesAWorkingInstanceAndStopsOnSIGTERM() throws {
        let started = try Self.start()
        let directory = started.string("directory")
        #expect(FileManager.default.fileExists(atPath: started.string("ca_file")))
        #expect(started.string("maillog").hasPrefix(directory))
        let tcp = try TCPStream.connect(host: "127.0.0.1", port: UInt16(started.int("submission_port")), timeout: 10)
        #expect(try readReply(tcp).first?.hasPrefix("220 ") == true)
        try tcp.write(Array("EHLO client.example\r\n".utf8))
        let ehlo = try readReply(tcp)
        #expect(ehlo.contains("250-STARTTLS") && ehlo.contains { $0.hasPrefix("250-AUTH") || $0.hasPrefix("250 AUTH") })
        try tcp.write(Array("QUIT\r\n".utf8))
        _ = try readReply(tcp)
        tcp.close()
        let master = Int32(started.int("master_pid"))
        #expect(master > 0 && kill(master, 0) == 0)

        started.process.terminate()
        started.process.waitUntilExit()
        #expect(started.process.terminationStatus == 0 && started.process.terminationReason == .exit)
        #expect(kill(master, 0) != 0, "master stopped")
        #expect(!FileManager.default.fileExists(atPath: directory), "its files removed")
    }

    /// A caller that goes away (its end of stdin closed) stops the instance too.
    @Test func stopsWhenItsInputEnds() throws {
        let started = try Self.start()
        let master = Int32(started.int("master_pid"))
        try started.input.fileHandleForWriting.close()
        started.process.waitUntilExit()
        #expect(started.process.terminationStatus == 0)
        #expect(kill(master, 0) != 0)
        #expect(!FileManager.default.fileExists(atPath: started.string("directory")))
    }

    @Test func aBadArgumentIsStatusTwoWithOneLine() throws {
        let result = try Subprocess.run(try Self.command(), arguments: ["--user", "no-colon"], timeout: 20)
        #expect(result.status == 2)
        #expect(result.stderr == "private-postfix: --user wants NAME:PASSWORD, not no-colon\n")
    }
}
