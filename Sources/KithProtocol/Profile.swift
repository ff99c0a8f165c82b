import KithCrypto

/// What a person says of themself to one friend: a name, a short bio and an
/// avatar photo. Signed by its author, naming the friend it is for, padded to
/// a fixed size and sealed to that friend's encryption key (envelope type 4).
///
///     profile = version u8 (= 1) || author (32) || recipient (32)
///            || sequence u64 || created_at u64 || name str8 || bio str16
///            || has_avatar u8 || [ attachment ]
///            || Sign(author_sk, "kith/profile/v1", all of the above)
///     payload = Seal(recipient_encryption_pk, sodium_pad(profile, 1024))
public struct Profile: Equatable, Sendable {
    public static let version: UInt8 = 1
    static let context = "kith/profile/v1"
    public static let maxBioBytes = 500
    /// The largest side of an avatar, in pixels.
    public static let maxAvatarSide: UInt16 = 512
    /// The signed profile is padded to this many bytes before sealing.
    public static let paddedLength = 1_024
    /// The sealed box: the padded profile plus `crypto_box_seal`'s 48 bytes.
    public static let payloadLength = paddedLength + BoxKey.sealOverhead

    public let author: [UInt8]
    /// The friend the profile is for.
    public let recipient: [UInt8]
    /// From 1; a higher sequence replaces a lower.
    public let sequence: UInt64
    public let createdAt: UInt64
    public let name: String?
    /// May be empty.
    public let bio: String
    /// A JPEG photo of at most 512 px a side and 1 MiB, without thumbnail.
    public let avatar: Attachment?

    /// Throws `malformed` for a field its decoder would refuse.
    public init(author: [UInt8], recipient: [UInt8], sequence: UInt64, createdAt: UInt64, name: String?, bio: String, avatar: Attachment?) throws {
        precondition(author.count == 32 && recipient.count == 32)
        guard (1...UInt64(Int64.max)).contains(sequence), createdAt <= UInt64(Int64.max) else {
            throw ProtocolError.malformed("profile: sequence must be 1 to 2^63 - 1")
        }
        if let name { try Name.check(name, field: "profile: name") }
        try Self.checkBio(bio)
        if let avatar { try Self.checkAvatar(avatar) }
        self.author = author; self.recipient = recipient; self.sequence = sequence; self.createdAt = createdAt
        self.name = name; self.bio = bio; self.avatar = avatar
    }

    /// 0 to 500 bytes of UTF-8, no code point of Cc except LF, none of Cf, Zl, Zp.
    public static func checkBio(_ bio: String) throws {
        guard bio.utf8.count <= maxBioBytes else { throw ProtocolError.malformed("profile: bio must be at most \(maxBioBytes) bytes") }
        if let bad = bio.unicodeScalars.first(where: { $0 != "\n" && Name.isRefused($0) }) {
            throw ProtocolError.malformed("profile: bio contains a control, format or separator character (U+\(Name.hex(bad.value)))")
        }
    }

    /// A photo, image/jpeg, 1 to 512 px a side, at most 1 MiB, no thumbnail.
    public static func checkAvatar(_ avatar: Attachment) throws {
        guard avatar.kind == .photo, avatar.mediaType == "image/jpeg", avatar.thumbnail == nil,
              avatar.width <= maxAvatarSide, avatar.height <= maxAvatarSide, avatar.blob.size <= UInt64(Attachment.maxThumbnailSize) else {
            throw ProtocolError.malformed("profile: an avatar is a JPEG photo of at most \(maxAvatarSide) px a side and \(Attachment.maxThumbnailSize) bytes, without thumbnail")
        }
    }

    private func body() -> [UInt8] {
        var w = ByteWriter(capacity: Self.paddedLength)
        w.u8(Self.version)
        w.raw(author); w.raw(recipient)
        w.u64(sequence); w.u64(createdAt)
        w.string8(name ?? "")
        w.string16(bio)
        if let avatar {
            w.u8(1)
            avatar.encode(into: &w)
        } else {
            w.u8(0)
        }
        return w.bytes
    }

    /// Signs, pads and seals to the recipient's encryption key.
    public func seal(signer: SigningKey, recipientKey: [UInt8]) throws -> Envelope {
        precondition(signer.publicKey == author)
        var plain = body()
        defer { wipe(&plain) }
        var signed = plain + signer.sign(signedMessage(context: Self.context, plain))
        defer { wipe(&signed) }
        precondition(signed.count < Self.paddedLength)
        var padded = Padding.pad(signed, blockSize: Self.paddedLength)
        defer { wipe(&padded) }
        return Envelope(kind: .profile, payload: try BoxKey.seal(padded, to: recipientKey))
    }

    /// Opens with one of `keys` (current and grace-period encryption keys),
    /// checks the padding, the fields, the author's signature, that it is for
    /// `me`, and that it is not dated more than a day after `now`.
    public static func open(_ envelope: Envelope, keys: [BoxKey], me: [UInt8], now: UInt64) throws -> Profile {
        guard envelope.kind == .profile, envelope.payload.count == payloadLength else {
            throw ProtocolError.malformed("profile: not a \(payloadLength)-byte profile")
        }
        var opened: [UInt8]? = nil
        for key in keys {
            if let plain = try? key.open(envelope.payload) { opened = plain; break }
        }
        guard var padded = opened else { throw ProtocolError(.noMatchingKey, "profile: sealed to none of my encryption keys") }
        defer { wipe(&padded) }
        var inner: [UInt8]
        do { inner = try Padding.unpad(padded, blockSize: paddedLength) } catch { throw ProtocolError.malformed("profile: bad padding") }
        defer { wipe(&inner) }
        return try parse(inner: inner, me: me, now: now)
    }

    /// Parses and checks a signed profile (opened and unpadded).
    static func parse(inner: [UInt8], me: [UInt8], now: UInt64) throws -> Profile {
        var r = ByteReader(inner, what: "profile")
        let version = try r.u8()
        guard version == Self.version else { throw ProtocolError(.unsupportedVersion, "profile: version \(version) is not supported") }
        let author = try r.raw(32), recipient = try r.raw(32)
        let sequence = try r.u64(), createdAt = try r.u64()
        guard sequence >= 1 else { throw ProtocolError.malformed("profile: sequence 0") }
        let nameBytes = try r.raw(Int(try r.u8()))
        guard let name = String(validating: nameBytes, as: UTF8.self) else { throw ProtocolError.malformed("profile: name is not UTF-8") }
        let bioBytes = try r.raw(Int(try r.u16()))
        guard let bio = String(validating: bioBytes, as: UTF8.self) else { throw ProtocolError.malformed("profile: bio is not UTF-8") }
        let avatar: Attachment?
        switch try r.u8() {
        case 0: avatar = nil
        case 1: avatar = try Attachment.parse(&r)
        default: throw ProtocolError.malformed("profile: has_avatar must be 0 or 1")
        }
        let profile = try Profile(author: author, recipient: recipient, sequence: sequence, createdAt: createdAt,
                                  name: name.isEmpty ? nil : name, bio: bio, avatar: avatar)
        let signed = signedMessage(context: context, r.consumed)
        let sig = try r.raw(64)
        try r.finish()
        guard SigningKey.verify(signature: sig, message: signed, publicKey: author) else {
            throw ProtocolError(.badSignature, "profile: author signature does not verify")
        }
        guard constantTimeEqual(recipient, me) else { throw ProtocolError(.wrongRecipient, "profile: addressed to someone else") }
        guard createdAt <= now + Post.maxFutureSkew else { throw ProtocolError(.notValidNow, "profile: dated more than a day in the future") }
        return profile
    }
}
