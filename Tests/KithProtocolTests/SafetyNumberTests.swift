import KithCrypto
import KithProtocol
import Testing

/// The safety number of docs/PROTOCOL.md, "Safety number": its vector, its
/// symmetry, and its shape.
@Suite struct SafetyNumberTests {
    @Test func matchesTheVectorInTheProtocol() throws {
        // Computed independently (Python's hashlib.blake2b) from the definition.
        let a = (0..<32).map(UInt8.init), b = (32..<64).map(UInt8.init)
        #expect(try SafetyNumber.of(a, b) == "44255 78614 53130 48500 13886 73895 58899 28697 33428 22143 23430 11641")
        // Sorting is by unsigned bytes: 0xff... sorts after 0x01...
        let high = [UInt8](repeating: 0xff, count: 32), low = [UInt8](repeating: 0x01, count: 32)
        #expect(try SafetyNumber.of(high, low) == "64913 85743 56923 21050 70971 25218 82016 55667 14861 89354 47701 52819")
    }

    @Test func isTheSameOnBothSidesAndDiffersForAnotherKey() throws {
        let alice = SigningKey().publicKey, bob = SigningKey().publicKey, mallory = SigningKey().publicKey
        let number = try SafetyNumber.of(alice, bob)
        #expect(try SafetyNumber.of(bob, alice) == number)
        #expect(try SafetyNumber.of(alice, mallory) != number)
        #expect(try SafetyNumber.of(mallory, bob) != number)
        let groups = number.split(separator: " ")
        #expect(groups.count == 12 && groups.allSatisfy { $0.count == 5 && $0.allSatisfy(\.isASCIIDigit) })
    }

    @Test func refusesKeysOfTheWrongLength() {
        #expect(throws: ProtocolError.self) { try SafetyNumber.of([1, 2, 3], SigningKey().publicKey) }
        #expect(throws: ProtocolError.self) { try SafetyNumber.of(SigningKey().publicKey, [UInt8](repeating: 0, count: 33)) }
    }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
