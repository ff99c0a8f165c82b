import KithCrypto

/// Gives one member an audience epoch key. Signed by the audience owner,
/// naming the recipient, then sealed to the recipient's encryption key.
///
/// Kith writes inner type 4, which carries flags (a direct audience; a
/// shared member list); inner type 1, without them, still opens, as an
/// audience that is not direct and does not share its members.
public struct KeyMessage: Sendable {
    /// Inner type 1: the key message of earlier revisions, without flags.
    public static let version: UInt8 = 1
    /// Inner type 4: the key message with flags, as Kith writes it.
    public static let flaggedType: UInt8 = 4
    static let context = "kith/key-message/v1"
    static let flaggedContext = "kith/key-message/v2"
    /// The signed inner message is padded to this many bytes before sealing,
    /// so that a key message's size reveals nothing (not the name's length).
    public static let paddedLength = 256
    /// The sealed box: the padded message plus `crypto_box_seal`'s 48 bytes.
    public static let payloadLength = paddedLength + BoxKey.sealOverhead

    /// What the owner says of the audience, in inner type 4.
    public struct Flags: OptionSet, Sendable, Equatable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// A direct conversation: the owner and the recipient are its only
        /// members, now and in every epoch.
        public static let direct = Flags(rawValue: 1)
        /// The owner sends members the audience's member list (`MemberList`).
        public static let sharesMembers = Flags(rawValue: 2)
    }

    public let audience: AudienceKey
    /// The member's identity key: a key message cannot be re-sealed to someone else.
    public let recipient: [UInt8]
    public let audienceName: String
    public let createdAt: UInt64
    public let flags: Flags

    public init(audience: AudienceKey, recipient: [UInt8], audienceName: String, createdAt: UInt64, flags: Flags = []) {
        self.audience = audience
        self.recipient = recipient
        self.audienceName = audienceName
        self.createdAt = createdAt
        self.flags = flags
    }

    private func body() -> [UInt8] {
        var w = ByteWriter()
        w.u8(Self.flaggedType)
        w.raw(audience.owner)
        w.raw(recipient)
        w.raw(audience.audienceID)
        w.u32(audience.epoch)
        audience.key.withBytes { w.raw($0) }
        w.u64(createdAt)
        w.u8(flags.rawValue)
        w.string8(audienceName)
        return w.bytes
    }

    /// Signs with the owner's identity and seals to the member's encryption key (inner type 4).
    public func seal(owner: SigningKey, to encryptionKey: [UInt8]) throws -> Envelope {
        precondition(owner.publicKey == audience.owner)
        try Name.check(audienceName, field: "key message: audience name")
        try Self.check(flags)
        var plain = body()
        defer { wipe(&plain) }
        let sig = owner.sign(signedMessage(context: Self.flaggedContext, plain))
        var signed = plain + sig
        defer { wipe(&signed) }
        return try KeyChannel.seal(signed, to: encryptionKey)
    }

    /// Opens with one of `keys` (current and grace-period encryption keys),
    /// verifies the owner's signature and that it is addressed to `me`.
    /// Only inner messages of type 1 and 4 are key messages; `KeyChannel.open`
    /// also takes the encryption-key updates that share this envelope type.
    public static func open(_ envelope: Envelope, keys: [BoxKey], me: [UInt8]) throws -> KeyMessage {
        var inner = try KeyChannel.openInner(envelope, keys: keys)
        defer { wipe(&inner) }
        return try parse(inner: inner, me: me)
    }

    /// Only known bits, and a direct audience shares no member list.
    static func check(_ flags: Flags) throws {
        guard flags.rawValue & ~(Flags.direct.rawValue | Flags.sharesMembers.rawValue) == 0 else {
            throw ProtocolError.malformed("key message: unknown flags")
        }
        guard !flags.isSuperset(of: [.direct, .sharesMembers]) else {
            throw ProtocolError.malformed("key message: a direct audience has no member list to share")
        }
    }

    /// Parses and checks an opened, unpadded inner message of type 1 or 4.
    static func parse(inner: [UInt8], me: [UInt8]) throws -> KeyMessage {
        var r = ByteReader(inner, what: "key message")
        let type = try r.u8()
        guard type == Self.version || type == Self.flaggedType else {
            throw ProtocolError(.unsupportedVersion, "key message: version \(type) is not supported")
        }
        let owner = try r.raw(32)
        let recipient = try r.raw(32)
        let audienceID = try r.raw(AudienceKey.audienceIDLength)
        let epoch = try r.u32()
        guard epoch >= AudienceKey.firstEpoch else { throw ProtocolError.malformed("key message: epoch 0") }
        var keyBytes = try r.raw(32)
        let secret = SecretBytes(consuming: &keyBytes)
        let created = try r.u64()
        let flags = type == Self.flaggedType ? Flags(rawValue: try r.u8()) : []
        try check(flags)
        let name = try r.string8(field: "audience name", max: Name.maxBytes)
        try Name.check(name, field: "key message: audience name")
        var signed = signedMessage(context: type == Self.flaggedType ? Self.flaggedContext : Self.context, r.consumed)
        defer { wipe(&signed) }
        let sig = try r.raw(64)
        try r.finish()
        guard SigningKey.verify(signature: sig, message: signed, publicKey: owner) else {
            throw ProtocolError(.badSignature, "key message: owner signature does not verify")
        }
        guard constantTimeEqual(recipient, me) else { throw ProtocolError(.wrongRecipient, "key message: addressed to someone else") }
        return KeyMessage(audience: AudienceKey(owner: owner, audienceID: audienceID, epoch: epoch, key: secret),
                          recipient: recipient, audienceName: name, createdAt: created, flags: flags)
    }
}
