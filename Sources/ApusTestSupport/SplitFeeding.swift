/// How a test cuts its input before feeding it to a streaming parser or encoder.
package enum Feeding: Sendable, Hashable, CustomStringConvertible {
    /// All of it in one piece.
    case whole
    /// One byte at a time.
    case byteByByte
    /// Two pieces, cut before the given offset.
    case splitAt(Int)
    /// Pieces of these sizes, cycled until the input is used up.
    case chunks([Int])

    /// The pieces of `input`, in order; none is empty unless the input is.
    package func pieces(of input: [UInt8]) -> [ArraySlice<UInt8>] {
        let sizes: [Int]
        switch self {
        case .whole: return [input[...]]
        case .byteByByte: sizes = [1]
        case .splitAt(let offset):
            let cut = max(0, min(offset, input.count))
            return [input[..<cut], input[cut...]]
        case .chunks(let given): sizes = given.map { max(1, $0) }
        }
        var pieces: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        while start < input.count {
            let end = min(input.count, start + sizes[index % sizes.count])
            pieces.append(input[start..<end])
            start = end
            index += 1
        }
        return pieces.isEmpty ? [input[...]] : pieces
    }

    package var description: String {
        switch self {
        case .whole: "whole"
        case .byteByByte: "byte by byte"
        case .splitAt(let offset): "split at \(offset)"
        case .chunks(let sizes): "in chunks of \(sizes)"
        }
    }
}

/// Two feedings of one input that gave different results.
package struct FeedingDisagreement: Error, CustomStringConvertible {
    /// Which feeding, what each gave, and the seed of the random cuts.
    package var description: String

    package init(description: String) { self.description = description }
}

/// Feeds `input` to `parse` whole, byte by byte, cut in two at every offset
/// (at `sampledSplits` random offsets when the input is longer than
/// `everySplitUpTo` bytes), and in `randomChunkings` random chunkings of 1 to
/// `maximumChunk` bytes; every feeding must agree with the whole one.
///
/// `parse` gets the pieces in order and returns what it made of them; when the
/// whole input throws, every other feeding must throw the same error (compared
/// by description), and that error is rethrown. The random cuts come from
/// `generator` (``SeededGenerator/fromEnvironment()`` by default), whose seed
/// is in the message of the ``FeedingDisagreement`` thrown on a difference.
///
/// ```
/// let replies = try feedEveryWay(bytes) { pieces in try parse(pieces) }
/// ```
///
/// - Returns: the result of the whole feeding.
package func feedEveryWay<Output>(
    _ input: [UInt8], everySplitUpTo: Int = 256, sampledSplits: Int = 32, randomChunkings: Int = 20,
    maximumChunk: Int = 64, generator: SeededGenerator = .fromEnvironment(),
    agree: (Output, Output) -> Bool, _ parse: ([ArraySlice<UInt8>]) throws -> Output
) throws -> Output {
    var generator = generator
    var feedings: [Feeding] = [.byteByByte]
    if input.count <= everySplitUpTo {
        feedings += (0...input.count).map { .splitAt($0) }
    } else {
        feedings += (0..<sampledSplits).map { _ in .splitAt(Int.random(in: 0...input.count, using: &generator)) }
    }
    for _ in 0..<randomChunkings {
        feedings.append(.chunks((0..<7).map { _ in Int.random(in: 1...max(1, maximumChunk), using: &generator) }))
    }
    let whole = Result { try parse(Feeding.whole.pieces(of: input)) }
    for feeding in feedings {
        let other = Result { try parse(feeding.pieces(of: input)) }
        let same: Bool
        switch (whole, other) {
        case (.success(let a), .success(let b)): same = agree(a, b)
        case (.failure(let a), .failure(let b)): same = String(describing: a) == String(describing: b)
        default: same = false
        }
        if !same {
            throw FeedingDisagreement(
                description: "fed \(feeding) gives \(other), whole gives \(whole) (input of \(input.count) bytes; "
                    + "\(generator.note))")
        }
    }
    return try whole.get()
}

/// ``feedEveryWay(_:everySplitUpTo:sampledSplits:randomChunkings:maximumChunk:generator:agree:_:)``
/// with results compared by `==`.
package func feedEveryWay<Output: Equatable>(
    _ input: [UInt8], everySplitUpTo: Int = 256, sampledSplits: Int = 32, randomChunkings: Int = 20,
    maximumChunk: Int = 64, generator: SeededGenerator = .fromEnvironment(),
    _ parse: ([ArraySlice<UInt8>]) throws -> Output
) throws -> Output {
    try feedEveryWay(
        input, everySplitUpTo: everySplitUpTo, sampledSplits: sampledSplits, randomChunkings: randomChunkings,
        maximumChunk: maximumChunk, generator: generator, agree: ==, parse)
}
