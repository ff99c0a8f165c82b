import KithCrypto

/// One epoch of an audience's key: 32 random bytes known to the owner and
/// every member of that epoch. Posts are encrypted under a subkey of it.
public struct AudienceKey: Sendable {
    public static let audienceIDLength = 16
    public static let keyIDLength = 16

    public let owner: [UInt8]
    public let audienceID: [UInt8]
    public let epoch: UInt32
    public let key: SecretBytes

    public init(owner: [UInt8], audienceID: [UInt8], epoch: UInt32, key: SecretBytes) {
        self.owner = owner
        self.audienceID = audienceID
        self.epoch = epoch
        self.key = key
    }

    /// A public, unlinkable-to-identity label for this epoch key, carried in
    /// post envelopes so members can find the key: keyed BLAKE2b-128.
    public var keyID: [UInt8] { Self.keyID(for: key) }

    public static func keyID(for key: SecretBytes) -> [UInt8] {
        Hash.blake2b(Array("kith/epoch-key-id/v1".utf8), length: keyIDLength, key: key)
    }

    /// The XChaCha20-Poly1305 key for posts: crypto_kdf subkey 1, context "kithpost".
    var postKey: SecretBytes { Hash.deriveKey(from: key, id: 1, context: "kithpost") }
}
