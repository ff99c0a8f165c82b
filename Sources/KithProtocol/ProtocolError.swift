/// Why a Kith structure was refused. Each kind matches an `expect:` value of
/// the test vectors in docs/PROTOCOL.md, so other implementations can check
/// that they fail in the same way.
public struct ProtocolError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Truncated, oversized, wrong magic, bad field value, trailing bytes.
        case malformed = "malformed"
        case unsupportedVersion = "unsupported version"
        case badSignature = "bad signature"
        /// The AEAD or sealed box did not open: wrong key or tampered bytes.
        case decryptionFailed = "decryption failure"
        /// No key we hold matches (yet): the envelope may wait for its key.
        case noMatchingKey = "no matching key"
        /// Validly signed, but for someone or something else.
        case wrongRecipient = "wrong recipient"
        /// Well formed and validly signed, but outside its time: an
        /// encryption key outside its window, a post dated in the future.
        case notValidNow = "not valid now"
    }

    public let kind: Kind
    /// What failed, without secrets or plaintext.
    public let detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { "\(detail) (\(kind.rawValue))" }

    public static func malformed(_ detail: String) -> ProtocolError { .init(.malformed, detail) }
}
