import ApusTestSupport
import Testing

@Suite struct SplitFeedingTests {
    @Test func piecesCoverTheInputInOrder() {
        let input: [UInt8] = Array(0..<10)
        #expect(Feeding.whole.pieces(of: input).map(Array.init) == [input])
        #expect(Feeding.byteByByte.pieces(of: input).count == 10)
        #expect(Feeding.splitAt(3).pieces(of: input).map(Array.init) == [[0, 1, 2], [3, 4, 5, 6, 7, 8, 9]])
        #expect(Feeding.splitAt(0).pieces(of: input).map(\.count) == [0, 10])
        #expect(Feeding.chunks([4, 1]).pieces(of: input).map(\.count) == [4, 1, 4, 1])
        #expect(Feeding.chunks([3]).pieces(of: []).map(\.count) == [0])
    }

    @Test func agreeingFeedingsReturnTheWholeResult() throws {
        let input = Array("hello, world".utf8)
        #expect(try feedEveryWay(input) { $0.flatMap { $0 } } == input)
    }

    /// A parser that loses a byte at every cut is caught, and the message names the cut and the seed.
    @Test func aParserThatDependsOnTheCutsIsCaught() {
        let input = Array("abcdefgh".utf8)
        let generator = SeededGenerator(seed: 0x5eed)
        #expect {
            _ = try feedEveryWay(input, generator: generator) { pieces in pieces.flatMap { $0.dropFirst() } }
        } throws: { error in
            let text = "\(error)"
            return error is FeedingDisagreement && text.contains("byte by byte")
                && text.contains("APUS_TEST_SEED=0x5eed")
        }
    }

    /// Failing whole but not when cut (or failing differently) is a disagreement too.
    @Test func aFailureMustBeTheSameEveryWay() {
        struct Refused: Error {}
        let input = Array("abc".utf8)
        #expect(throws: Refused.self) { try feedEveryWay(input) { _ throws -> Int in throw Refused() } }
        #expect(throws: FeedingDisagreement.self) {
            try feedEveryWay(input) { pieces -> Int in
                if pieces.count == 1 { throw Refused() }
                return pieces.count
            }
        }
    }
}
