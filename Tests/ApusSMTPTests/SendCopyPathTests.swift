import ApusTransport
import Testing

@testable import ApusSMTP

/// A lender over an array that lends at most `piece` octets per call, as the
/// spool's window does.
final class ArrayLender: LendingSource {
    let bytes: [UInt8]
    let piece: Int
    init(_ bytes: [UInt8], piece: Int) {
        self.bytes = bytes
        self.piece = piece
    }
    var count: Int { bytes.count }
    func withBytes(at offset: Int, _ body: (UnsafeRawBufferPointer) throws -> Int) throws -> Int {
        let end = min(bytes.count, offset + piece)
        return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[min(offset, end)..<end])) }
    }
}

/// Message text with every kind of line end, dots at line starts, 8-bit
/// octets and long runs without a line end, the same for a given seed.
func mixedText(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    var out: [UInt8] = []
    out.reserveCapacity(count)
    let alphabet: [UInt8] = Array("ab.\r\n.\n x\r".utf8) + [0x80, 0xFF]
    while out.count < count {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let r = Int(state >> 33)
        if r % 16 == 0 {
            out += repeatElement(UInt8(ascii: "q"), count: min(count - out.count, r % 3000))
        } else {
            out.append(alphabet[r % alphabet.count])
        }
    }
    return out
}

/// The send path encodes each octet once, from where it lies (a lent spool,
/// a held chunk) into the chunk or the connection's buffer; these check that
/// the bytes and chunk bounds are what the whole-message encoding gives.
struct SendCopyPathTests {
    @Test(arguments: [1, 2, 3, 7, 100, 4096, 65536])
    func chunksOfEverySourceMatchTheWholeEncoding(maximum: Int) throws {
        let body = mixedText(maximum < 100 ? 5000 : 150_000, seed: UInt64(maximum))
        let header = Array("Subject: x\n\n.dot\r".utf8)
        let tail = Array("\n.\rend".utf8)
        for dotStuffing in [false, true] {
            for piece in [1, 5, 4096, body.count] {
                var chunks = [Array(tail.prefix(3)), Array(tail.dropFirst(3))]
                let source =
                    MessageSource.bytes(header) + .lending(ArrayLender(body, piece: piece))
                    + .chunks { chunks.isEmpty ? nil : chunks.removeFirst() }
                let reader = source.makeReader()
                reader.setDotStuffing(dotStuffing)
                var sent: [[UInt8]] = []
                while true {
                    let (bytes, last) = try reader.nextWireChunk(maximum: maximum)
                    sent.append(bytes)
                    if last { break }
                }
                let expected = WireEncoder.encode(header + body + tail, dotStuffing: dotStuffing)
                #expect(Array(sent.joined()) == expected)
                #expect(sent.dropLast().allSatisfy { $0.count == maximum })
                #expect(sent.last!.count <= maximum && !sent.last!.isEmpty)
                #expect(sent.count == (expected.count + maximum - 1) / maximum)
            }
        }
    }

    @Test func encodingWithALimitStopsThereAndLosesNothing() {
        let input = mixedText(20000, seed: 7)
        for dotStuffing in [false, true] {
            var encoder = WireEncoder(dotStuffing: dotStuffing)
            var output: [UInt8] = []
            var consumed = 0
            var step = 1
            input.withUnsafeBufferPointer { buffer in
                while consumed < buffer.count {
                    let limit = output.count + step
                    consumed += encoder.encode(
                        UnsafeBufferPointer(rebasing: buffer[consumed...]), into: &output, limit: limit)
                    #expect(output.count >= limit || consumed == buffer.count)
                    #expect(output.count <= limit + 3)
                    step = step % 11 + 1
                }
            }
            encoder.finish(into: &output)
            #expect(output == WireEncoder.encode(input, dotStuffing: dotStuffing))
        }
    }

    @Test func emptyLentMessageIsOneEmptyLastChunk() throws {
        let reader = MessageSource.lending(ArrayLender([], piece: 10)).makeReader()
        let (bytes, last) = try reader.nextWireChunk(maximum: 100)
        #expect(bytes.isEmpty && last)
    }

    @Test func dataBodyGoesOutDotStuffedFromALentSource() throws {
        let body = mixedText(300_000, seed: 42)
        let message = MessageSource.string("Subject: big\n\n") + .lending(ArrayLender(body, piece: 70000))
        #expect(message.knownSize == 14 + body.count)
        let (result, peer) = sendThroughPeer(to: ["b@x"], message: message) { peer in
            try greet(peer, extensions: [])
            try peer.answer(["MAIL FROM:<a@x>": "250 ok", "RCPT TO:<b@x>": "250 ok", "DATA": "354 go"])
            peer.saved.append(try peer.receiveMessage("250 ok"))
        }
        _ = try result.get()
        #expect(peer.finish() == nil)
        #expect(peer.saved == [WireEncoder.encode(Array("Subject: big\n\n".utf8) + body, dotStuffing: true)])
    }

    @Test func bdatChunksFromALentSourceKeepTheirSizes() throws {
        let body = mixedText(200_000, seed: 9)
        let message = MessageSource.string("Subject: big\n\n") + .lending(ArrayLender(body, piece: 65536))
        let (result, peer) = sendThroughPeer(to: ["b@x"], message: message, options: SendOptions(chunkSize: 65536)) {
            peer in
            try greet(peer, extensions: ["CHUNKING"])
            try peer.answer(["MAIL FROM:<a@x>": "250 ok", "RCPT TO:<b@x>": "250 ok"])
            var data: [UInt8] = []
            while true {
                let (line, chunk) = try peer.readBDAT()
                peer.saved.append(Array(line.utf8))
                data += chunk
                try peer.send("250 ok")
                if line.hasSuffix("LAST") { break }
            }
            peer.saved.append(data)
        }
        _ = try result.get()
        #expect(peer.finish() == nil)
        let expected = WireEncoder.encode(Array("Subject: big\n\n".utf8) + body, dotStuffing: false)
        let lines = peer.saved.dropLast().map { String(decoding: $0, as: UTF8.self) }
        let full = expected.count / 65536
        #expect(lines == Array(repeating: "BDAT 65536", count: full) + ["BDAT \(expected.count % 65536) LAST"])
        #expect(peer.saved.last == expected)
    }
}

/// A stream that records the size of each write.
final class WriteRecordingStream: ByteStream {
    var writes: [[UInt8]] = []
    var timeout: Double = 5
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { 0 }
    func write(_ buffer: UnsafeRawBufferPointer) throws { writes.append(Array(buffer)) }
    var tlsSession: TLSSessionInfo? { nil }
    var peerDescription: String { "recorder" }
    var isLoopback: Bool { true }
    func close() {}
}

struct BufferedConnectionBlockTests {
    @Test func aWholeBlockIsWrittenAsItIsAfterWhatWasBuffered() throws {
        let stream = WriteRecordingStream()
        let connection = BufferedConnection(stream: stream, writeBufferSize: 100)
        try connection.write(Array("BDAT 150\r\n".utf8))
        let block = mixedText(150, seed: 3)
        try connection.write(block)
        #expect(stream.writes == [Array("BDAT 150\r\n".utf8), block])
        #expect(connection.bufferedOutputCount == 0)
        try connection.write([1, 2, 3])
        #expect(connection.bufferedOutputCount == 3)
    }

    @Test func inPlaceAppendsGoOutInFullBlocksOnly() throws {
        let stream = WriteRecordingStream()
        let connection = BufferedConnection(stream: stream, writeBufferSize: 100)
        let bytes = mixedText(250, seed: 5)
        connection.appendingToOutput { $0 += bytes }
        try connection.writeFullBlocks()
        #expect(stream.writes == [Array(bytes[0..<100]), Array(bytes[100..<200])])
        #expect(connection.bufferedOutputCount == 50)
        connection.appendingToOutput { $0 += [7] }
        try connection.writeFullBlocks()
        #expect(stream.writes.count == 2)
        try connection.flush()
        #expect(stream.writes.last == Array(bytes[200...]) + [7])
    }
}
