import KithCrypto
import KithProtocol

/// Fixed, test-only keys: the same seeds as `Sources/kith-vectors`, so the
/// vectors turned into seeds open with them and fuzzing starts from inputs
/// that get past decryption and signature checks.
enum Fixtures {
    static func seed(_ b: UInt8) -> [UInt8] { [UInt8](repeating: b, count: 32) }

    static let now: UInt64 = 1_790_000_000
    static let alice = try! SigningKey(seed: seed(0xa1))
    static let bob = try! SigningKey(seed: seed(0xb0))
    /// Bob's encryption key: key messages in the vectors are sealed to it.
    static let bobBox = try! BoxKey(seed: seed(0xb1))
    static let aliceBox = try! BoxKey(seed: seed(0xa2))
    static let aliceCert = EncryptionKeyCertificate(publicKey: aliceBox.publicKey, notBefore: now, notAfter: now + 604_800, signedBy: alice)
    static let mailboxKey = try! SigningKey(seed: seed(0xc0))
    static let audienceID = [UInt8](repeating: 0x5a, count: 16)
    /// The key of the blob vectors.
    static let blobKey = seed(0xd1)

    /// The invitation of the invitation vectors.
    static let invitation = try! FriendInvitation(relay: "https://relay.example", secret: [UInt8](repeating: 0x1f, count: 16))
    /// The taker nonce of the invitation vectors' sealed card.
    static let takerNonce = [UInt8](repeating: 0x42, count: 32)

    /// Epoch 3 of alice's audience "family", as in the post vectors.
    static let audience: AudienceKey = {
        var k = seed(0xe1)
        return AudienceKey(owner: alice.publicKey, audienceID: audienceID, epoch: 3, key: SecretBytes(consuming: &k))
    }()

    /// The post key as docs/PROTOCOL.md derives it. `AudienceKey` keeps its own
    /// internal; `checkPostKey()` proves at start-up that the two agree, so a
    /// change of derivation fails loudly instead of leaving the post-plaintext
    /// target stuck at "decryption failure".
    static let postKey: SecretBytes = {
        var key = Hash.blake2b(Array("kith/post-key/v2".utf8) + [0] + alice.publicKey + audienceID + [0, 0, 0, 3], length: 32, key: audience.key)
        return SecretBytes(consuming: &key)
    }()
    static let postHeader = Envelope.magic + [Envelope.version, Envelope.Kind.post.rawValue]
    static let postNonce = [UInt8](repeating: 0x24, count: 24)

    static func checkPostKey() {
        let post = try! Post(author: alice.publicKey, audienceID: audienceID, epoch: 3, id: [UInt8](repeating: 0x11, count: 16),
                             createdAt: now, text: "fixture")
        let envelope = try! post.seal(author: alice, audience: audience, nonce: postNonce)
        let ad = postHeader + audience.keyID
        let ct = Array(envelope.payload[(AudienceKey.keyIDLength + AEAD.nonceLength)...])
        guard (try? AEAD.open(ct, key: postKey, nonce: postNonce, associatedData: ad)) != nil else {
            fatalError("kith-fuzz: the harness's post key no longer matches AudienceKey's; update Fixtures.postKey")
        }
    }

    /// A post envelope whose padded plaintext is `padded`, exactly as `Post.seal` would frame it.
    static func postEnvelope(padded: [UInt8]) -> Envelope {
        let keyID = audience.keyID
        let ct = try! AEAD.seal(padded, key: postKey, nonce: postNonce, associatedData: postHeader + keyID)
        return Envelope(kind: .post, payload: keyID + postNonce + ct)
    }

    /// A key message envelope whose sealed plaintext is `inner`, sealed to bob's key: padded to
    /// 256 bytes as `KeyMessage.seal` pads it when shorter, as it is when 256 bytes long (so the
    /// fuzzer also reaches bad padding), and sealed as it is (a wrong size) when longer.
    static func keyMessageEnvelope(inner: [UInt8]) -> Envelope {
        let padded = inner.count < KeyMessage.paddedLength ? Padding.pad(inner, blockSize: KeyMessage.paddedLength) : inner
        return Envelope(kind: .keyMessage, payload: try! BoxKey.seal(padded, to: bobBox.publicKey))
    }
}
