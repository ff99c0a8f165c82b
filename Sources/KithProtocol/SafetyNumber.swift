import KithCrypto

/// The number two friends read to each other to check that each holds the
/// other's true identity key (docs/PROTOCOL.md, "Safety number").
///
/// A fingerprint names one key, so each side must compare two of them; a
/// safety number covers the pair at once and is the same on both sides,
/// because the keys are sorted before hashing. It is 60 decimal digits in 12
/// groups of five, in the manner of Signal's safety numbers: digits are
/// easier to read aloud than hex. An attacker in the middle would need two
/// pairs of keys whose numbers agree, a search of about 2^100 hashes.
public enum SafetyNumber {
    static let context = Array("kith/safety-number/v1".utf8)
    public static let groups = 12
    public static let digitsPerGroup = 5

    /// The safety number of two identity keys, in either order: 12 groups
    /// of 5 digits separated by single spaces.
    public static func of(_ a: [UInt8], _ b: [UInt8]) throws -> String {
        guard a.count == SigningKey.publicKeyLength, b.count == SigningKey.publicKeyLength else {
            throw ProtocolError.malformed("safety number: identity keys must be \(SigningKey.publicKeyLength) bytes")
        }
        let (low, high) = a.lexicographicallyPrecedes(b) ? (a, b) : (b, a)
        let digest = Hash.blake2b(context + [0] + low + high, length: 64)
        return (0..<groups).map { i in
            // Five bytes (a 40-bit number) per group: 2^40 is about 1.1 × 10^7 times
            // 100,000, so reducing it leaves a bias below one in ten million.
            let value = digest[(5 * i)..<(5 * i + 5)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } % 100_000
            let digits = String(value)
            return String(repeating: "0", count: digitsPerGroup - digits.count) + digits
        }.joined(separator: " ")
    }
}
