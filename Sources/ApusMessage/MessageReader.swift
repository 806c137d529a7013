/// A streaming, bounded reader for a message as sendmail receives it on standard
/// input. Push input chunks with `append(_:)` and `finish()`, pull events with
/// `next()`. It does no I/O of its own.
///
/// ```
/// input ──append──▶ [ buffer ] ──next()──▶ .header(field)…  .endOfHeaders
///                                          .bodyLine / .bodyPart …  .end
/// ```
///
/// Rules (delivery.md "Reading the message"):
/// - Lines end in LF, CRLF or a lone CR (a CR not followed by LF): each of
///   them ends a line, so a bare CR or LF can never reach the wire inside a
///   line (no SMTP smuggling through `\r.\r` or `\n.\r\n`). A CR at the end
///   of the input so far waits for the next byte to tell CRLF from a lone CR.
/// - A NUL byte anywhere is noted in `stats.hasNUL` (the caller refuses the
///   message); the reader goes on, so a size limit is still seen first.
/// - With `dotTerminates` (sendmail without `-i`), a line holding only `.` ends
///   the input; whatever follows is ignored. Other lines starting with a dot are
///   data as written (no un-stuffing: that is an SMTP matter).
/// - Headers end at the first empty line. Header fields are buffered until the
///   block's end is known, then returned as `.header` events, continuation lines
///   attached to their field. If a line that is neither a header field nor a
///   continuation line comes before the empty line, the message has no header
///   block: every line so far and after is body (the caller writes the empty line
///   before it, which inserts the one the relay needs). A message with no empty
///   line whose lines all look like header fields is all headers.
/// - The body streams through: one `.bodyLine` per line (content without its line
///   ending). A line longer than `Limits.maximumBodyPiece` comes as `.bodyPart`
///   pieces followed by a `.bodyLine` with the rest, so memory stays bounded.
/// - `stats` records 8-bit bytes and lines over 998 octets as they pass.
///
/// Memory: the header block is capped by `Limits`; past that `next()` throws
/// `MessageError.headerBlockTooLarge` (apus exits 65). Body memory is bounded by
/// the largest chunk appended plus `maximumBodyPiece`: append a chunk, then call
/// `next()` until it returns nil before appending the next one.
public struct MessageReader: Sendable {
    /// Bounds on what the reader buffers.
    public struct Limits: Sendable, Equatable {
        /// The most octets the header block may hold (line endings included).
        public var maximumHeaderOctets: Int
        /// The most lines the header block may hold.
        public var maximumHeaderLines: Int
        /// The largest piece of a body line returned at once.
        public var maximumBodyPiece: Int

        /// Creates limits; the defaults are 1 MiB, 10,000 lines and 64 KiB.
        public init(
            maximumHeaderOctets: Int = 1 << 20, maximumHeaderLines: Int = 10_000, maximumBodyPiece: Int = 1 << 16
        ) {
            precondition(maximumHeaderOctets > 0 && maximumHeaderLines > 0 && maximumBodyPiece > 1)
            self.maximumHeaderOctets = maximumHeaderOctets
            self.maximumHeaderLines = maximumHeaderLines
            self.maximumBodyPiece = maximumBodyPiece
        }
    }

    /// What the reader has seen so far; final once `.end` has been returned.
    public struct Stats: Sendable, Equatable {
        /// A header line holds a byte ≥ 0x80.
        public var headersHaveEightBit = false
        /// A header line is longer than 998 octets (without its line ending).
        public var headersHaveLongLines = false
        /// A body line holds a byte ≥ 0x80.
        public var bodyHasEightBit = false
        /// A body line is longer than 998 octets (without its line ending).
        public var bodyHasLongLines = false
        /// A body line holds a NUL byte.
        public var bodyHasNUL = false
        /// A header line holds a NUL byte.
        public var headersHaveNUL = false
        /// A NUL byte was seen anywhere (header or body): the message cannot be sent.
        public var hasNUL: Bool { bodyHasNUL || headersHaveNUL }
        /// The number of body lines.
        public var bodyLines = 0
        /// The body's size on the wire: its octets with every line ending in CRLF.
        public var bodyOctets = 0
        /// The longest body line, in octets without the line ending.
        public var longestBodyLine = 0
        /// The message had no header block (a non-header line came before any
        /// empty line), so all of it is body.
        public var headerBlockMissing = false
        /// Input ended with a lone-dot line rather than end of file.
        public var endedByDot = false

        /// Creates empty stats (nothing seen).
        public init() {}
    }

    /// One step of the message.
    public enum Event: Sendable, Equatable {
        /// A complete header field (all its lines).
        case header(HeaderField)
        /// The header block is over; body events follow.
        case endOfHeaders
        /// A body line's content (or the rest of it after `.bodyPart`s), without line ending.
        case bodyLine([UInt8])
        /// A piece of a body line too long to hold at once; the line continues.
        case bodyPart([UInt8])
        /// The message is over; `next()` returns nil from now on.
        case end
    }

    private enum Phase: Sendable { case headers, body, done }

    /// The limits in force.
    public let limits: Limits
    /// Whether a lone `.` line ends the input (sendmail without `-i`).
    public let dotTerminates: Bool
    /// What has been seen so far.
    public private(set) var stats = Stats()

    private var buffer: [UInt8] = []
    private var position = 0
    private var inputFinished = false
    private var phase = Phase.headers
    private var pending: [Event] = []
    private var pendingIndex = 0
    // Header block state: line contents (without endings).
    private var headerLines: [[UInt8]] = []
    private var headerOctets = 0
    // Body state: the current line was partly returned as .bodyPart.
    private var inLongLine = false
    private var currentLineLength = 0
    // How far the buffer has been searched for LF.
    private var scannedUpTo = 0
    // Body streaming (``streamBody(_:into:)``): a CR whose line end is not
    // known yet, and a dot at a line start that may be a lone-dot line.
    private var heldCR = false
    private var heldDot = false

    /// Creates a reader.
    /// - Parameters:
    ///   - dotTerminates: true unless `-i`/`-oi` was given.
    ///   - limits: buffer bounds.
    public init(dotTerminates: Bool = true, limits: Limits = Limits()) {
        self.dotTerminates = dotTerminates
        self.limits = limits
    }

    /// Pushes more input. Any bytes are accepted.
    /// - Precondition: `finish()` has not been called.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        precondition(!inputFinished, "MessageReader.append after finish")
        if phase == .done { return }
        if position > 0 && position >= buffer.count / 2 {
            buffer.removeFirst(position)
            scannedUpTo -= position
            position = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Marks the end of input: a last line without a line ending is taken as is.
    public mutating func finish() { inputFinished = true }

    /// Returns the next event, or nil when more input is needed (or after `.end`).
    ///
    /// - Throws: `MessageError.headerBlockTooLarge` when the header block passes
    ///   `limits`; the reader should then be discarded.
    public mutating func next() throws -> Event? {
        while true {
            if pendingIndex < pending.count {
                let e = pending[pendingIndex]
                pendingIndex += 1
                if pendingIndex == pending.count {
                    pending.removeAll(keepingCapacity: false)
                    pendingIndex = 0
                }
                return e
            }
            switch phase {
            case .done: return nil
            case .headers: if try !stepHeaders() { return nil }
            case .body: if !stepBody() { return nil }
            }
        }
    }

    // MARK: - Lines

    /// The next complete line (content without ending), or the unterminated rest
    /// at end of input; nil when more input is needed. LF, CRLF and a lone CR
    /// each end a line.
    private mutating func takeLine() -> [UInt8]? {
        // Bytes before `scannedUpTo` were searched already: feeding a long line in
        // small chunks stays linear.
        let end = buffer.count
        let index = buffer.withUnsafeBufferPointer { bytes in
            var index = max(position, scannedUpTo)
            while index < end {
                let byte = bytes[index]
                if byte == ASCII.lf || byte == ASCII.cr { break }
                index += 1
            }
            return index
        }
        if index < end {
            let line = Array(buffer[position..<index])
            if buffer[index] == ASCII.lf {
                position = index + 1
                return line
            }
            // A CR: CRLF, or a lone CR when the next byte is anything else.
            if index + 1 < end {
                position = buffer[index + 1] == ASCII.lf ? index + 2 : index + 1
                return line
            }
            if inputFinished {
                position = end  // a CR ending the input is a line ending
                return line
            }
            scannedUpTo = index  // look at this CR again when more input comes
            return nil
        }
        if inputFinished, position < end {
            let line = Array(buffer[position..<end])
            position = end
            return line
        }
        scannedUpTo = end
        return nil
    }

    private var atEndOfInput: Bool { inputFinished && position >= buffer.count }

    private func isLoneDot(_ line: [UInt8]) -> Bool { dotTerminates && line.count == 1 && line[0] == ASCII.dot }

    // MARK: - Header block

    /// Advances in the header block; false when more input is needed.
    private mutating func stepHeaders() throws -> Bool {
        guard let line = takeLine() else {
            if atEndOfInput {
                finishHeaders()
                finishMessage(byDot: false)
                return true
            }
            // A partial line: bound it, and leave the header block early if it cannot be a header.
            let partial = buffer[position...]
            if !looksLikeHeaderPrefix(partial) {
                switchToBody()
                return true
            }
            if headerOctets + partial.count > limits.maximumHeaderOctets {
                throw MessageError.headerBlockTooLarge(
                    limitOctets: limits.maximumHeaderOctets, limitLines: limits.maximumHeaderLines)
            }
            return false
        }
        if isLoneDot(line) {
            finishHeaders()
            finishMessage(byDot: true)
            return true
        }
        if line.isEmpty {
            finishHeaders()
            phase = .body
            return true
        }
        let startsField = HeaderField.nameEnd(line[...]) != nil
        let continues = ASCII.isWhitespace(line[0]) && !headerLines.isEmpty
        if !startsField && !continues {
            switchToBody(with: line)
            return true
        }
        headerOctets += line.count + 2
        if headerOctets > limits.maximumHeaderOctets || headerLines.count + 1 > limits.maximumHeaderLines {
            throw MessageError.headerBlockTooLarge(
                limitOctets: limits.maximumHeaderOctets, limitLines: limits.maximumHeaderLines)
        }
        if line.count > HeaderFormat.maximumLineLength { stats.headersHaveLongLines = true }
        if !stats.headersHaveEightBit, line.contains(where: { $0 >= 0x80 }) { stats.headersHaveEightBit = true }
        if !stats.headersHaveNUL, line.contains(0) { stats.headersHaveNUL = true }
        headerLines.append(line)
        return true
    }

    /// Whether an unterminated line could still turn out to be a header field or a continuation line.
    private func looksLikeHeaderPrefix(_ partialLine: ArraySlice<UInt8>) -> Bool {
        // A final CR may be the start of the CRLF ending the line.
        let partial = partialLine.last == ASCII.cr ? partialLine.dropLast() : partialLine
        guard let first = partial.first else { return true }
        if ASCII.isWhitespace(first) { return !headerLines.isEmpty }
        // Names are bounded (see HeaderField.nameEnd), so this scan is too.
        let limit = min(partial.endIndex, partial.startIndex + HeaderField.maximumNameScan)
        var i = partial.startIndex
        while i < limit, ASCII.isFieldNameByte(partial[i]) { i += 1 }
        if i == partial.endIndex { return true }
        if i == partial.startIndex || i == limit { return false }
        while i < limit, ASCII.isWhitespace(partial[i]) { i += 1 }
        if i == partial.endIndex { return true }
        return i < limit && partial[i] == ASCII.colon
    }

    /// Turns the buffered header lines into `.header` events and `.endOfHeaders`.
    private mutating func finishHeaders() {
        var field: [UInt8] = []
        var colon = 0
        for line in headerLines {
            if ASCII.isWhitespace(line[0]) {
                field += line + ASCII.crlf
                continue
            }
            if !field.isEmpty { pending.append(.header(HeaderField(checkedRaw: field, colonIndex: colon))) }
            colon = HeaderField.nameEnd(line[...]) ?? 0
            field = line + ASCII.crlf
        }
        if !field.isEmpty { pending.append(.header(HeaderField(checkedRaw: field, colonIndex: colon))) }
        headerLines = []
        pending.append(.endOfHeaders)
    }

    /// The message has no header block: what was buffered becomes body.
    private mutating func switchToBody(with line: [UInt8]? = nil) {
        stats.headerBlockMissing = true
        if stats.headersHaveNUL { stats.bodyHasNUL = true }
        stats.headersHaveNUL = false
        stats.headersHaveEightBit = false
        stats.headersHaveLongLines = false
        pending.append(.endOfHeaders)
        let lines = headerLines
        headerLines = []
        phase = .body
        for l in lines { emitBodyLine(l) }
        if let line { emitBodyLine(line) }
    }

    // MARK: - Body

    private mutating func emitBodyLine(_ content: [UInt8]) {
        noteBodyBytes(content)
        currentLineLength += content.count
        if currentLineLength > HeaderFormat.maximumLineLength { stats.bodyHasLongLines = true }
        stats.longestBodyLine = max(stats.longestBodyLine, currentLineLength)
        stats.bodyLines += 1
        stats.bodyOctets += content.count + 2
        currentLineLength = 0
        inLongLine = false
        pending.append(.bodyLine(content))
    }

    private mutating func noteBodyBytes(_ bytes: [UInt8]) {
        if !stats.bodyHasEightBit || !stats.bodyHasNUL {
            for b in bytes {
                if b >= 0x80 { stats.bodyHasEightBit = true } else if b == 0 { stats.bodyHasNUL = true }
            }
        }
    }

    /// Advances in the body; false when more input is needed.
    private mutating func stepBody() -> Bool {
        if let line = takeLine() {
            if !inLongLine && isLoneDot(line) {
                finishMessage(byDot: true)
            } else {
                emitBodyLine(line)
            }
            return true
        }
        if atEndOfInput {
            if inLongLine { emitBodyLine([]) }
            finishMessage(byDot: false)
            return true
        }
        // No line ending in sight: hand out a piece if the partial line is large.
        var available = buffer.count - position
        if available >= limits.maximumBodyPiece {
            available = limits.maximumBodyPiece
            if buffer[position + available - 1] == ASCII.cr { available -= 1 }  // may be half of a CRLF
            let piece = Array(buffer[position..<(position + available)])
            position += available
            noteBodyBytes(piece)
            currentLineLength += piece.count
            stats.bodyOctets += piece.count
            inLongLine = true
            pending.append(.bodyPart(piece))
            return true
        }
        return false
    }

    private mutating func finishMessage(byDot: Bool) {
        stats.endedByDot = byDot
        if stats.bodyHasLongLines == false, currentLineLength > HeaderFormat.maximumLineLength {
            stats.bodyHasLongLines = true
        }
        phase = .done
        pending.append(.end)
        buffer = []
        position = 0
        scannedUpTo = 0
    }
}

// MARK: - Streaming the body

extension MessageReader {
    /// Whether the body can be streamed with ``streamBody(_:into:)``: the
    /// header block is over and every event before the body was taken.
    package var canStreamBody: Bool { phase == .body && pending.isEmpty }

    /// The body without events (MessageIntake's path): hands `sink` each
    /// line's content and a CRLF, straight from `bytes` (or from what is still
    /// buffered) rather than as an array per line, so a body byte is copied
    /// once, by the sink. The rules, the ``stats`` and the bytes are those of
    /// the `.bodyLine`/`.bodyPart` events: a lone CR or LF ends a line, every
    /// line ends in CRLF, a lone `.` line ends the input with `dotTerminates`.
    /// Buffered input goes first; after ``finish()`` the last line is ended
    /// and `.end` follows from ``next()``, as it does when a lone dot ends the
    /// input (the rest is then ignored).
    ///
    /// - Precondition: ``canStreamBody``.
    package mutating func streamBody(
        _ bytes: UnsafeRawBufferPointer?, into sink: (UnsafeRawBufferPointer) throws -> Void
    ) rethrows {
        precondition(canStreamBody, "MessageReader.streamBody before the body")
        if position < buffer.count {
            let held = buffer
            let start = position
            buffer = []
            position = 0
            scannedUpTo = 0
            try held.withUnsafeBytes { try scanBody(UnsafeRawBufferPointer(rebasing: $0[start...]), into: sink) }
        } else if !buffer.isEmpty {
            buffer = []
            position = 0
            scannedUpTo = 0
        }
        if let bytes, phase == .body {
            precondition(!inputFinished, "MessageReader.streamBody after finish")
            try scanBody(bytes, into: sink)
        }
        if inputFinished && phase == .body {
            if heldDot {
                finishMessage(byDot: true)
                return
            }
            if heldCR || inLongLine { try endBodyLine(into: sink) }
            finishMessage(byDot: false)
        }
    }

    /// The body rules over `bytes`, runs of line content handed over whole.
    private mutating func scanBody(_ raw: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void)
        rethrows
    {
        let bytes = raw.assumingMemoryBound(to: UInt8.self)
        let count = bytes.count
        var index = 0
        while index < count {
            if heldCR {
                heldCR = false
                try endBodyLine(into: sink)
                if bytes[index] == ASCII.lf { index += 1 }
                continue
            }
            if heldDot {
                let byte = bytes[index]
                if byte == ASCII.lf || byte == ASCII.cr {
                    finishMessage(byDot: true)
                    return
                }
                heldDot = false
                try Self.dotByte.withUnsafeBytes { try sink($0) }
                noteLineOctets(1)
                continue
            }
            if !inLongLine && dotTerminates && bytes[index] == ASCII.dot {
                heldDot = true
                index += 1
                continue
            }
            var end = index
            while end < count {
                let byte = bytes[end]
                if byte == ASCII.lf || byte == ASCII.cr { break }
                end += 1
            }
            let run = UnsafeBufferPointer(rebasing: bytes[index..<end])
            if end < count && bytes[end] == ASCII.cr && end + 1 < count && bytes[end + 1] == ASCII.lf {
                // A CRLF line end in the input: content and end in one piece.
                noteBodyRun(run)
                try sink(UnsafeRawBufferPointer(rebasing: raw[index..<(end + 2)]))
                endLineStats()
                index = end + 2
                continue
            }
            if end > index {
                noteBodyRun(run)
                try sink(UnsafeRawBufferPointer(rebasing: raw[index..<end]))
            }
            if end < count {
                if bytes[end] == ASCII.lf {
                    try endBodyLine(into: sink)
                } else {
                    heldCR = true
                }
                index = end + 1
            } else {
                index = end
            }
        }
    }

    private static let dotByte: [UInt8] = [ASCII.dot]

    /// Notes a run of line content (8-bit and NUL octets, its length).
    private mutating func noteBodyRun(_ run: UnsafeBufferPointer<UInt8>) {
        if !stats.bodyHasEightBit || !stats.bodyHasNUL {
            for b in run {
                if b >= 0x80 { stats.bodyHasEightBit = true } else if b == 0 { stats.bodyHasNUL = true }
            }
        }
        noteLineOctets(run.count)
    }

    /// Notes `count` octets of line content.
    private mutating func noteLineOctets(_ count: Int) {
        currentLineLength += count
        stats.bodyOctets += count
        inLongLine = true
    }

    /// Ends the current line: a CRLF to `sink`, and the line's stats.
    private mutating func endBodyLine(into sink: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try ASCII.crlf.withUnsafeBytes { try sink($0) }
        endLineStats()
    }

    private mutating func endLineStats() {
        if currentLineLength > HeaderFormat.maximumLineLength { stats.bodyHasLongLines = true }
        stats.longestBodyLine = max(stats.longestBodyLine, currentLineLength)
        stats.bodyLines += 1
        stats.bodyOctets += 2
        currentLineLength = 0
        inLongLine = false
    }
}
