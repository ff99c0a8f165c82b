import Testing
@testable import KithWeb

@Suite struct QRCodeTests {
    /// libqrencode's matrix as runs: a version's size, the three finder patterns, and a refusal when the text does not fit.
    @Test func sizeFindersAndTooLong() throws {
        let small = try #require(QRCode("kith"))
        #expect(small.size == 21, "version 1: 17 + 4 modules")
        let invitation = try #require(QRCode("kith-invite:https://relay.example.org#" + String(repeating: "A", count: 43)))
        #expect((invitation.size - 17) % 4 == 0 && invitation.size > 21)
        for code in [small, invitation] {
            let last = code.size - 1
            // Each finder pattern: a dark 7-module line on its outer rows, a dark-light-dark-dark-dark-light-dark row in the middle.
            for (x, y) in [(0, 0), (code.size - 7, 0), (0, last - 6)] {
                for row in [y, y + 6] { #expect(code.runs.contains { $0.y == row && $0.x == x && $0.width == 7 }, "\(x),\(row)") }
                let middle = code.runs.filter { $0.y == y + 3 && $0.x >= x && $0.x < x + 7 }
                #expect(middle.first.map { $0.x == x && $0.width == 1 } == true)
                #expect(middle.contains { $0.x == x + 2 && $0.width == 3 })
            }
            #expect(code.runs.allSatisfy { $0.width > 0 && $0.x + $0.width <= code.size && $0.y < code.size })
        }
        #expect(QRCode(String(repeating: "x", count: 3000)) == nil, "more than a version 40 code holds at level M")
    }
}
