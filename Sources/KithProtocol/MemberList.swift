import KithCrypto

/// Who an audience's key goes to, as its owner tells the members: signed by
/// the owner and carried in a post envelope (inner kind 4) under the key of
/// the epoch it describes, so only that epoch's members can read it and a
/// relay cannot tell it from a post. The owner sends one after every change
/// of members of an audience whose key messages say `sharesMembers`; the
/// highest `revision` wins.
public struct MemberList: Equatable, Sendable {
    /// One member, with the name the owner gives them.
    public struct Member: Equatable, Sendable {
        public let identity: [UInt8]
        public let name: String
        public init(identity: [UInt8], name: String) { (self.identity, self.name) = (identity, name) }
    }

    static let context = "kith/member-list/v1"
    /// At most this many members: a list of the longest names fills a 64 KiB bucket.
    public static let maxMembers = 600

    public let owner: [UInt8]
    public let audienceID: [UInt8]
    public let epoch: UInt32
    /// Counts up with every list the owner sends for the audience, whatever the epoch.
    public let revision: UInt64
    public let members: [Member]
    /// The list as its owner signed it: its fields, then the signature.
    public let bytes: [UInt8]

    /// Makes and signs a list of `members` (the owner not among them) for `audience`'s epoch.
    public init(owner signer: SigningKey, audience: AudienceKey, revision: UInt64, members: [Member]) throws {
        precondition(signer.publicKey == audience.owner)
        try Self.check(owner: signer.publicKey, members: members, revision: revision)
        var w = ByteWriter(capacity: 128 + members.count * 48)
        w.u8(Post.version); w.u8(Post.Kind.memberList.rawValue)
        w.raw(audience.owner); w.raw(audience.audienceID); w.u32(audience.epoch); w.u64(revision)
        w.u16(UInt16(members.count))
        for member in members { w.raw(member.identity); w.string8(member.name) }
        let bytes = w.bytes + signer.sign(signedMessage(context: Self.context, w.bytes))
        self.init(owner: audience.owner, audienceID: audience.audienceID, epoch: audience.epoch, revision: revision, members: members, bytes: bytes)
    }

    private init(owner: [UInt8], audienceID: [UInt8], epoch: UInt32, revision: UInt64, members: [Member], bytes: [UInt8]) {
        self.owner = owner; self.audienceID = audienceID; self.epoch = epoch; self.revision = revision
        self.members = members; self.bytes = bytes
    }

    /// 1 to `maxMembers` members, each once, the owner not among them, names by the name rule.
    static func check(owner: [UInt8], members: [Member], revision: UInt64) throws {
        guard !members.isEmpty, members.count <= maxMembers else {
            throw ProtocolError.malformed("member list: 1 to \(maxMembers) members")
        }
        guard revision >= 1, revision <= UInt64(Int64.max) else { throw ProtocolError.malformed("member list: revision out of range") }
        var seen = Set<[UInt8]>()
        for member in members {
            guard member.identity.count == 32, member.identity != owner, seen.insert(member.identity).inserted else {
                throw ProtocolError.malformed("member list: a member twice, or the owner among the members")
            }
            try Name.check(member.name, field: "member list: name")
        }
    }

    /// Encrypts the list under its epoch's key, padded like a post.
    public func seal(audience: AudienceKey, nonce: [UInt8] = randomBytes(AEAD.nonceLength)) throws -> Envelope {
        precondition(audience.owner == owner && audience.audienceID == audienceID && audience.epoch == epoch)
        return try Post.seal(inner: bytes, audience: audience, nonce: nonce)
    }

    /// Parses and checks an opened inner plaintext of kind 4 against the
    /// key it was encrypted under: fields (`malformed`), the owner's
    /// signature (`bad signature`), then the owner, audience and epoch of
    /// the key (`wrong recipient`).
    public static func parse(_ inner: [UInt8], audience: AudienceKey) throws -> MemberList {
        let list = try parse(inner)
        guard list.owner == audience.owner, list.audienceID == audience.audienceID, list.epoch == audience.epoch else {
            throw ProtocolError(.wrongRecipient, "member list: signed for another owner, audience or epoch than its key")
        }
        return list
    }

    /// Parses a list as signed (as a node keeps it), checking its fields and signature.
    public static func parse(_ inner: [UInt8]) throws -> MemberList {
        var r = ByteReader(inner, what: "member list")
        let version = try r.u8()
        guard version == Post.version else { throw ProtocolError(.unsupportedVersion, "member list: version \(version) is not supported") }
        guard try r.u8() == Post.Kind.memberList.rawValue else { throw ProtocolError.malformed("member list: wrong kind") }
        let owner = try r.raw(32)
        let audienceID = try r.raw(AudienceKey.audienceIDLength)
        let epoch = try r.u32()
        guard epoch >= AudienceKey.firstEpoch else { throw ProtocolError.malformed("member list: epoch 0") }
        let revision = try r.u64()
        let count = Int(try r.u16())
        guard count >= 1, count <= maxMembers else { throw ProtocolError.malformed("member list: 1 to \(maxMembers) members") }
        var members: [Member] = []
        for _ in 0..<count {
            let identity = try r.raw(32)
            members.append(Member(identity: identity, name: try r.string8(field: "name", max: Name.maxBytes)))
        }
        try check(owner: owner, members: members, revision: revision)
        let signed = r.consumed
        let sig = try r.raw(64)
        try r.finish()
        guard SigningKey.verify(signature: sig, message: signedMessage(context: context, signed), publicKey: owner) else {
            throw ProtocolError(.badSignature, "member list: owner signature does not verify")
        }
        return MemberList(owner: owner, audienceID: audienceID, epoch: epoch, revision: revision, members: members, bytes: inner)
    }
}
