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
    /// A public label for this epoch key, unlinkable to any identity, carried
    /// in post envelopes so that members can find the key: keyed BLAKE2b-128.
    public let keyID: [UInt8]
    /// The XChaCha20-Poly1305 key for posts: crypto_kdf subkey 1, context "kithpost".
    let postKey: SecretBytes

    public init(owner: [UInt8], audienceID: [UInt8], epoch: UInt32, key: SecretBytes) {
        self.owner = owner
        self.audienceID = audienceID
        self.epoch = epoch
        self.key = key
        self.keyID = Self.keyID(for: key)
        self.postKey = Hash.deriveKey(from: key, id: 1, context: "kithpost")
    }

    public static func keyID(for key: SecretBytes) -> [UInt8] {
        Hash.blake2b(Array("kith/epoch-key-id/v1".utf8), length: keyIDLength, key: key)
    }
}
