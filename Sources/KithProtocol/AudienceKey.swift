import KithCrypto

/// One epoch of an audience's key: 32 random bytes known to the owner and
/// every member of that epoch. Posts are encrypted under a subkey of it.
///
/// Every value derived from the key binds the owner, the audience id and the
/// epoch, so a member who knows `K` can never make it stand for another
/// owner's audience (or another epoch) in someone's node: the same `K` under
/// another owner gives another key id and another post key.
public struct AudienceKey: Sendable {
    public static let audienceIDLength = 16
    public static let keyIDLength = 16
    /// Epochs count from 1; 0 is refused by every decoder.
    public static let firstEpoch: UInt32 = 1

    public let owner: [UInt8]
    public let audienceID: [UInt8]
    public let epoch: UInt32
    public let key: SecretBytes
    /// A public label for this epoch key, unlinkable to any identity, carried
    /// in post envelopes so that members can find the key.
    public let keyID: [UInt8]
    /// The XChaCha20-Poly1305 key for posts.
    let postKey: SecretBytes

    public init(owner: [UInt8], audienceID: [UInt8], epoch: UInt32, key: SecretBytes) {
        self.owner = owner
        self.audienceID = audienceID
        self.epoch = epoch
        self.key = key
        let binding = Self.binding(owner: owner, audienceID: audienceID, epoch: epoch)
        self.keyID = Hash.blake2b(Self.label("kith/epoch-key-id/v2") + binding, length: Self.keyIDLength, key: key)
        var post = Hash.blake2b(Self.label("kith/post-key/v2") + binding, length: 32, key: key)
        self.postKey = SecretBytes(consuming: &post)
    }

    /// `owner || audience_id || u32 epoch`: what every derivation binds.
    static func binding(owner: [UInt8], audienceID: [UInt8], epoch: UInt32) -> [UInt8] {
        var w = ByteWriter(capacity: 52)
        w.raw(owner); w.raw(audienceID); w.u32(epoch)
        return w.bytes
    }

    private static func label(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }
}
