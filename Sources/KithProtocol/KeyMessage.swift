import KithCrypto

/// Gives one member an audience epoch key. Signed by the audience owner,
/// naming the recipient, then sealed to the recipient's encryption key.
public struct KeyMessage: Sendable {
    public static let version: UInt8 = 1
    static let context = "kith/key-message/v1"
    /// The signed inner message is padded to this many bytes before sealing,
    /// so that a key message's size reveals nothing (not the name's length).
    public static let paddedLength = 256
    /// The sealed box: the padded message plus `crypto_box_seal`'s 48 bytes.
    public static let payloadLength = paddedLength + BoxKey.sealOverhead

    public let audience: AudienceKey
    /// The member's identity key: a key message cannot be re-sealed to someone else.
    public let recipient: [UInt8]
    public let audienceName: String
    public let createdAt: UInt64

    public init(audience: AudienceKey, recipient: [UInt8], audienceName: String, createdAt: UInt64) {
        self.audience = audience
        self.recipient = recipient
        self.audienceName = audienceName
        self.createdAt = createdAt
    }

    private func body() -> [UInt8] {
        var w = ByteWriter()
        w.u8(Self.version)
        w.raw(audience.owner)
        w.raw(recipient)
        w.raw(audience.audienceID)
        w.u32(audience.epoch)
        audience.key.withBytes { w.raw($0) }
        w.u64(createdAt)
        w.string8(audienceName)
        return w.bytes
    }

    /// Signs with the owner's identity and seals to the member's encryption key.
    public func seal(owner: SigningKey, to encryptionKey: [UInt8]) throws -> Envelope {
        precondition(owner.publicKey == audience.owner)
        try Name.check(audienceName, field: "key message: audience name")
        var plain = body()
        defer { wipe(&plain) }
        let sig = owner.sign(signedMessage(context: Self.context, plain))
        var signed = plain + sig
        defer { wipe(&signed) }
        return try KeyChannel.seal(signed, to: encryptionKey)
    }

    /// Opens with one of `keys` (current and grace-period encryption keys),
    /// verifies the owner's signature and that it is addressed to `me`.
    /// Only inner messages of type 1 are key messages; `KeyChannel.open`
    /// also takes the encryption-key updates that share this envelope type.
    public static func open(_ envelope: Envelope, keys: [BoxKey], me: [UInt8]) throws -> KeyMessage {
        var inner = try KeyChannel.openInner(envelope, keys: keys)
        defer { wipe(&inner) }
        return try parse(inner: inner, me: me)
    }

    /// Parses and checks an opened, unpadded inner message of type 1.
    static func parse(inner: [UInt8], me: [UInt8]) throws -> KeyMessage {
        var r = ByteReader(inner, what: "key message")
        let version = try r.u8()
        guard version == Self.version else { throw ProtocolError(.unsupportedVersion, "key message: version \(version) is not supported") }
        let owner = try r.raw(32)
        let recipient = try r.raw(32)
        let audienceID = try r.raw(AudienceKey.audienceIDLength)
        let epoch = try r.u32()
        guard epoch >= AudienceKey.firstEpoch else { throw ProtocolError.malformed("key message: epoch 0") }
        var keyBytes = try r.raw(32)
        let secret = SecretBytes(consuming: &keyBytes)
        let created = try r.u64()
        let name = try r.string8(field: "audience name", max: Name.maxBytes)
        try Name.check(name, field: "key message: audience name")
        var signed = signedMessage(context: Self.context, r.consumed)
        defer { wipe(&signed) }
        let sig = try r.raw(64)
        try r.finish()
        guard SigningKey.verify(signature: sig, message: signed, publicKey: owner) else {
            throw ProtocolError(.badSignature, "key message: owner signature does not verify")
        }
        guard constantTimeEqual(recipient, me) else { throw ProtocolError(.wrongRecipient, "key message: addressed to someone else") }
        return KeyMessage(audience: AudienceKey(owner: owner, audienceID: audienceID, epoch: epoch, key: secret),
                          recipient: recipient, audienceName: name, createdAt: created)
    }
}
