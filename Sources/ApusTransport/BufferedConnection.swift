import ApusPOSIX

/// A buffered reader and writer over a swappable ``ByteStream``: what a
/// protocol session talks through.
///
/// Writes collect in a buffer and go out in large blocks (whole command groups,
/// ``writeBufferSize`` bytes at most per system call), only when ``flush()`` is
/// called or the buffer fills, never a line at a time. Reads fill an input
/// buffer that a decoder consumes with ``decode(_:)``.
///
/// ``startTLS(configuration:)`` replaces the stream with a ``TLSStream``
/// wrapping it. Bytes already read but not consumed at that point were sent in
/// clear before the handshake and could have been injected by an attacker
/// (the STARTTLS command-injection attacks), so the switch is refused
/// (OpenSMTPD "Trailing data").
public final class BufferedConnection {
    /// The stream in use: the original one, or a TLS stream around it.
    public private(set) var stream: any ByteStream
    private var input: [UInt8] = []
    private var inputStart = 0
    private var output: [UInt8] = []
    private var readChunk: Int

    /// Bytes collected before a write is forced (default 64 KiB).
    public let writeBufferSize: Int

    /// Creates a connection over `stream`.
    ///
    /// - Parameters:
    ///   - stream: the transport; the connection closes it in ``close()``.
    ///   - writeBufferSize: how many bytes a write block holds at most.
    ///   - readChunk: how many bytes each read asks for.
    public init(stream: any ByteStream, writeBufferSize: Int = 65536, readChunk: Int = 16384) {
        self.stream = stream
        self.writeBufferSize = max(1, writeBufferSize)
        self.readChunk = max(1, readChunk)
        output.reserveCapacity(self.writeBufferSize)
    }

    /// How many read bytes have not been consumed yet.
    public var bufferedInputCount: Int { input.count - inputStart }

    /// How many written bytes wait for ``flush()``.
    public var bufferedOutputCount: Int { output.count }

    /// Queues `bytes` for sending; writes a block when the buffer is full.
    /// Throws ``TransportError``.
    public func write(_ bytes: some Collection<UInt8>) throws {
        if output.count + bytes.count > writeBufferSize && !output.isEmpty {
            try flush()
        }
        // Contiguous bytes (arrays, slices: every caller's) are used from
        // their storage. This generic function is not specialized for its
        // callers, and append(contentsOf:) here would build the collection's
        // iterator metadata at run time: 110,000 instructions on the first
        // call, 7% of a short submission. A whole block (a BDAT chunk) is
        // written from where it is, not copied into the buffer first: the
        // same writes as through it.
        let done: Void? = try bytes.withContiguousStorageIfAvailable { buffer in
            if buffer.count >= writeBufferSize {
                try stream.write(UnsafeRawBufferPointer(buffer))
            } else {
                output.append(contentsOf: buffer)
            }
        }
        if done == nil {
            output.append(contentsOf: bytes)
        }
        if output.count >= writeBufferSize {
            try flush()
        }
    }

    /// Lets `body` append to the output buffer in place (the DATA body is
    /// encoded straight into it, not copied in afterwards). Nothing is
    /// written: ``writeFullBlocks()`` does that.
    package func appendingToOutput<T>(_ body: (inout [UInt8]) throws -> T) rethrows -> T {
        try body(&output)
    }

    /// Writes each full block of ``writeBufferSize`` octets of the output
    /// buffer; the rest stays buffered.
    package func writeFullBlocks() throws {
        while output.count > writeBufferSize {
            try output.withUnsafeBytes { try stream.write(UnsafeRawBufferPointer(rebasing: $0[0..<writeBufferSize])) }
            output.removeFirst(writeBufferSize)
        }
        if output.count == writeBufferSize { try flush() }
    }

    /// Queues the UTF-8 bytes of `text`.
    public func write(_ text: String) throws {
        try write(Array(text.utf8))
    }

    /// Sends everything buffered in one write.
    public func flush() throws {
        if output.isEmpty { return }
        defer { output.removeAll(keepingCapacity: true) }
        try stream.write(output)
    }

    /// Runs `decoder` over the unread bytes until it returns a value, reading
    /// more from the stream whenever it returns nil ("need more bytes").
    ///
    /// The decoder removes what it consumes from the front of the slice it is
    /// given (`slice = slice[newStart...]`); what it leaves stays buffered.
    ///
    /// The whole value must arrive within the stream's ``ByteStream/timeout``
    /// of the call (delivery.md "Timeouts"): the first read waits at most that
    /// long, and each further read only for what is left, so a peer that drips
    /// a byte every few seconds times out like a silent one. The deadline
    /// costs nothing until a second read is needed.
    ///
    /// - Throws: what the decoder throws; ``TransportError/closed`` at end of
    ///   stream before the decoder completes; ``TransportError/timedOut(_:)``
    ///   when the whole value took longer than the timeout; transport errors.
    public func decode<T>(_ decoder: (inout ArraySlice<UInt8>) throws -> T?) throws -> T {
        var deadline: Deadline? = nil
        let timeout = stream.timeout
        defer { if deadline != nil { stream.timeout = timeout } }
        while true {
            var slice = input[inputStart...]
            let result = try decoder(&slice)
            inputStart = slice.startIndex
            if inputStart == input.count {
                input.removeAll(keepingCapacity: true)
                inputStart = 0
            }
            if let result { return result }
            if let deadline {
                let remaining = Double(deadline.remainingMilliseconds) / 1000
                if remaining <= 0 { throw TransportError.timedOut("reading from \(stream.peerDescription)") }
                stream.timeout = remaining
            } else {
                deadline = .after(seconds: timeout)
            }
            try fill()
        }
    }

    /// Reads once from the stream into the input buffer; throws
    /// ``TransportError/closed`` at end of stream.
    private func fill() throws {
        if inputStart > 0 {
            input.removeFirst(inputStart)
            inputStart = 0
        }
        let old = input.count
        input.append(contentsOf: repeatElement(0, count: readChunk))
        var n = 0
        defer { input.removeLast(input.count - old - n) }
        n = try input.withUnsafeMutableBytes { buffer in
            try stream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[old...]))
        }
        if n == 0 { throw TransportError.closed }
    }

    /// Starts TLS over the current stream: flushes pending output, then
    /// replaces ``stream`` with `TLSStream(wrapping: stream, configuration:)`.
    ///
    /// - Throws: ``BufferedConnectionError/trailingDataBeforeTLS(_:)`` if read
    ///   bytes are still buffered (nothing is done then); ``TransportError``
    ///   from the handshake.
    public func startTLS(configuration: TLSConfiguration) throws {
        if bufferedInputCount > 0 {
            throw BufferedConnectionError.trailingDataBeforeTLS(bufferedInputCount)
        }
        try flush()
        stream = try TLSStream(wrapping: stream, configuration: configuration)
    }

    /// Replaces the stream without a handshake (a caller-made TLS stream, or
    /// tests). The same trailing-data rule applies.
    public func replaceStream(_ newStream: any ByteStream) throws {
        if bufferedInputCount > 0 {
            throw BufferedConnectionError.trailingDataBeforeTLS(bufferedInputCount)
        }
        try flush()
        stream = newStream
    }

    /// Drops buffered output and closes the stream.
    public func close() {
        output.removeAll()
        stream.close()
    }
}

/// A misuse of the byte flow that the peer caused.
public enum BufferedConnectionError: Error, CustomStringConvertible, Sendable {
    /// The peer sent this many bytes after the reply to STARTTLS and before the
    /// handshake: possible command injection, so TLS is not started.
    case trailingDataBeforeTLS(Int)

    /// A sentence for messages.
    public var description: String {
        switch self {
        case .trailingDataBeforeTLS(let n): return "\(n) bytes of trailing data received before TLS started"
        }
    }
}
