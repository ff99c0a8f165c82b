/// Failures of the cryptographic layer. Descriptions never contain key
/// material or plaintext.
public struct CryptoError: Error, CustomStringConvertible, Equatable, Sendable {
    enum Kind: Equatable, Sendable {
        case invalidKeyLength(expected: Int, got: Int)
        case decryptionFailed
        case keyDerivationFailed
        case badPadding
    }

    let kind: Kind

    public static func invalidKeyLength(expected: Int, got: Int) -> CryptoError { .init(kind: .invalidKeyLength(expected: expected, got: got)) }
    public static let decryptionFailed = CryptoError(kind: .decryptionFailed)
    public static let keyDerivationFailed = CryptoError(kind: .keyDerivationFailed)
    public static let badPadding = CryptoError(kind: .badPadding)

    public var description: String {
        switch kind {
        case .invalidKeyLength(let expected, let got): "key has \(got) bytes, expected \(expected)"
        case .decryptionFailed: "decryption failed (wrong key or tampered ciphertext)"
        case .keyDerivationFailed: "key derivation failed (out of memory?)"
        case .badPadding: "invalid padding"
        }
    }
}
