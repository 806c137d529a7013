import ApusDelivery
import ApusMessage
import ApusPOSIX
import Foundation
import Testing

/// Feeds `input` through a pipe (written by a thread, so large inputs don't block) and reads it.
func intake(_ input: [UInt8], dotTerminates: Bool = true) throws -> ReceivedMessage {
    signal(SIGPIPE, SIG_IGN)  // the writer may outlive a reader that stopped early
    var fds: [Int32] = [0, 0]
    #expect(pipe(&fds) == 0)
    let writeEnd = fds[1]
    let writer = Thread {
        _ = try? FileDescriptor(rawValue: writeEnd).writeAll(input)
        close(writeEnd)
    }
    writer.start()
    defer { close(fds[0]) }
    return try MessageIntake.read(
        from: FileDescriptor(rawValue: fds[0]), dotTerminates: dotTerminates, spoolDirectory: NSTemporaryDirectory())
}

func spoolBytes(_ spool: Spool) throws -> [UInt8] {
    var out: [UInt8] = []
    try spool.forEachChunk { out += $0 }
    return out
}

@Test func headersAndBodyWithLFInput() throws {
    let message = try intake(Array("Subject: hi\nTo: a@b\n\nline 1\n.hidden\nline 3\n".utf8))
    #expect(message.headers.count == 2)
    #expect(message.headers.first(named: "subject")?.valueString == "hi")
    #expect(try spoolBytes(message.body) == Array("line 1\r\n.hidden\r\nline 3\r\n".utf8))
}

@Test func loneDotEndsInputUnlessIgnored() throws {
    let text = Array("Subject: x\n\nbefore\n.\nafter\n".utf8)
    #expect(try spoolBytes(intake(text).body) == Array("before\r\n".utf8))
    #expect(try spoolBytes(intake(text, dotTerminates: false).body) == Array("before\r\n.\r\nafter\r\n".utf8))
}

@Test func largeBodySpillsToDiskAndStaysIntact() throws {
    var text = Array("Subject: big\n\n".utf8)
    let line = Array(repeating: UInt8(ascii: "x"), count: 999) + [10]
    for _ in 0..<3000 { text += line }
    text += Array(repeating: UInt8(ascii: "y"), count: 200_000) + [10]
    let message = try intake(text)
    #expect(message.body.isOnDisk)
    #expect(message.body.count == 3000 * 1001 + 200_002)
    #expect(message.stats.bodyHasLongLines)
    let bytes = try spoolBytes(message.body)
    #expect(bytes.suffix(4) == [UInt8(ascii: "y"), UInt8(ascii: "y"), 13, 10])
}

@Test func headerBlockOverTheLimitIsADataError() throws {
    var text: [UInt8] = []
    for i in 0..<20_000 { text += Array("X-Filler-\(i): value\n".utf8) }
    text += Array("\nbody\n".utf8)
    #expect {
        _ = try intake(text)
    } throws: { error in
        if case .data(.headerBlockTooLarge) = error as? MessageIntake.Failure { return true }
        return false
    }
}

/// The spool writes its file in blocks of 64 KiB or more, not a line at a
/// time (a 1.2 MiB message of 60-octet lines made some 20,000 writes), and a
/// read in between sees every byte appended before it.
@Test func spoolWritesLargeBlocksAndReadsWhatWasAppended() throws {
    let spool = Spool(directory: NSTemporaryDirectory(), memoryLimit: 1 << 20)
    var expected: [UInt8] = []
    for i in 0..<20_000 {
        let line = Array("line \(i) of a longer message, sixty octets or so in all\r\n".utf8)
        try spool.append(line)
        expected += line
        if i == 19_000 {
            #expect(spool.isOnDisk)
            var buffer = [UInt8](repeating: 0, count: 10)
            let n = try buffer.withUnsafeMutableBytes { try spool.read(from: expected.count - 10, into: $0) }
            #expect(n == 10 && buffer == Array(expected.suffix(10)))
        }
    }
    #expect(try spoolBytes(spool) == expected)
    #expect(spool.count == expected.count)
    // The memory part in one write, then blocks of at least 64 KiB (one cut short by the read).
    #expect(spool.fileWrites <= 2 + (expected.count - (1 << 20)) / Spool.writeSize + 1)
    #expect(spool.fileWrites >= 2)
}

/// -bs feeds the message as it arrives: the same fields and body as reading it whole.
@Test func builderFedInPiecesReadsLikeTheWholeInput() throws {
    let text = Array("Subject: hi\r\nTo: a@b\r\n\r\nline 1\r\n.hidden\r\nline 3\r\n".utf8)
    let builder = MessageIntake.Builder(dotTerminates: false, spoolDirectory: NSTemporaryDirectory())
    for byte in text { try builder.append([byte]) }
    #expect(builder.count == text.count)
    let message = try builder.finish()
    #expect(message.headers.count == 2)
    #expect(try spoolBytes(message.body) == Array("line 1\r\n.hidden\r\nline 3\r\n".utf8))
    let nul = MessageIntake.Builder(dotTerminates: false, spoolDirectory: NSTemporaryDirectory())
    try nul.append(Array("Subject: x\r\n\r\na\0b\r\n".utf8))
    #expect(throws: MessageIntake.Failure.self) { try nul.finish() }
}
