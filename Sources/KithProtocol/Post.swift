import KithCrypto

/// A post: signed by its author over audience and epoch, padded to a size
/// bucket, and encrypted once under the audience's epoch key.
public struct Post: Equatable, Sendable {
    public static let version: UInt8 = 1
    /// The version of a post (and a comment) with attachments: version 1's
    /// fields, then `count u8 (1 to 10) || count × attachment`.
    public static let attachmentsVersion: UInt8 = 2
    public static let idLength = 16
    public static let maxTextBytes = 60_000
    /// Padded plaintexts are a power of two, at least this many bytes.
    public static let minBucket = 512
    /// The bucket of the longest post (60,000 bytes of text).
    public static let maxBucket = 65_536
    /// key id, nonce and tag around the padded plaintext.
    public static let payloadOverhead = AudienceKey.keyIDLength + AEAD.nonceLength + AEAD.tagLength
    /// A post dated more than this many seconds after the receiver's clock is refused.
    public static let maxFutureSkew: UInt64 = 24 * 3600
    static let context = "kith/post/v1"
    static let attachmentsContext = "kith/post/v2"

    /// What the inner plaintext of a post envelope holds: a post, a member's
    /// note to the audience's owner, or the owner's countersigned fan-out of
    /// a note to the members (Note.swift).
    public enum Kind: UInt8, Sendable { case post = 1, note = 2, fanOut = 3, memberList = 4 }

    public let kind: Kind
    public let author: [UInt8]
    public let audienceID: [UInt8]
    public let epoch: UInt32
    public let id: [UInt8]
    public let createdAt: UInt64
    public let text: String
    /// Photos and files (version 2); empty for a version-1 post.
    public let attachments: [Attachment]

    /// Text may be empty only with at least one attachment.
    public init(author: [UInt8], audienceID: [UInt8], epoch: UInt32, id: [UInt8], createdAt: UInt64, text: String,
                attachments: [Attachment] = []) throws {
        guard text.utf8.count <= Self.maxTextBytes, !text.isEmpty || !attachments.isEmpty else {
            throw ProtocolError.malformed("post: text must be 1 to \(Self.maxTextBytes) bytes (0 with attachments)")
        }
        guard attachments.count <= Attachment.maxCount else { throw ProtocolError.malformed("post: at most \(Attachment.maxCount) attachments") }
        precondition(id.count == Self.idLength && audienceID.count == AudienceKey.audienceIDLength)
        self.kind = .post
        self.author = author
        self.audienceID = audienceID
        self.epoch = epoch
        self.id = id
        self.createdAt = createdAt
        self.text = text
        self.attachments = attachments
    }

    private func body() -> [UInt8] {
        var w = ByteWriter(capacity: 128 + text.utf8.count + attachments.count * Attachment.maxEncodedLength)
        w.u8(attachments.isEmpty ? Self.version : Self.attachmentsVersion)
        w.u8(kind.rawValue)
        w.raw(author)
        w.raw(audienceID)
        w.u32(epoch)
        w.raw(id)
        w.u64(createdAt)
        let t = Array(text.utf8)
        w.u32(UInt32(t.count))
        w.raw(t)
        if !attachments.isEmpty { Attachment.encodeList(attachments, into: &w) }
        return w.bytes
    }

    /// The padded size for an inner plaintext of `length` bytes.
    public static func bucket(for length: Int) -> Int {
        var b = minBucket
        while b < length + 1 { b <<= 1 }
        return b
    }

    /// Signs, pads and encrypts. `nonce` is random unless given (test vectors).
    public func seal(author signer: SigningKey, audience: AudienceKey, nonce: [UInt8] = randomBytes(AEAD.nonceLength)) throws -> Envelope {
        precondition(signer.publicKey == author && audience.audienceID == audienceID && audience.epoch == epoch)
        var inner = body()
        inner += signer.sign(signedMessage(context: attachments.isEmpty ? Self.context : Self.attachmentsContext, inner))
        defer { wipe(&inner) }
        return try Self.seal(inner: inner, audience: audience, nonce: nonce)
    }

    /// Pads `inner` to its bucket and encrypts it under the audience's post
    /// key: the envelope of a post, a note or a fan-out alike.
    static func seal(inner: [UInt8], audience: AudienceKey, nonce: [UInt8]) throws -> Envelope {
        var padded = Padding.pad(inner, toLength: Self.bucket(for: inner.count), block: Self.minBucket)
        defer { wipe(&padded) }
        let keyID = audience.keyID
        let ad = Envelope.header(.post) + keyID
        let ct = try AEAD.seal(padded, key: audience.postKey, nonce: nonce, associatedData: ad)
        var payload = [UInt8]()
        payload.reserveCapacity(keyID.count + nonce.count + ct.count)
        payload.append(contentsOf: keyID)
        payload.append(contentsOf: nonce)
        payload.append(contentsOf: ct)
        return Envelope(kind: .post, payload: payload)
    }

    /// The key id a post envelope names, to look up its audience key.
    public static func keyID(of envelope: Envelope) throws -> [UInt8] {
        guard envelope.kind == .post else { throw ProtocolError.malformed("post: wrong envelope type") }
        guard envelope.payload.count >= AudienceKey.keyIDLength + AEAD.nonceLength + AEAD.tagLength + minBucket else {
            throw ProtocolError.malformed("post: too short")
        }
        return Array(envelope.payload[0..<AudienceKey.keyIDLength])
    }

    /// Decrypts with the audience key the envelope names, checks the padding,
    /// that the signed audience and epoch are the key's, the author's
    /// signature (v1: only the owner posts), and that the post is not dated
    /// more than a day after `now`.
    public static func open(_ envelope: Envelope, audience: AudienceKey, now: UInt64) throws -> Post {
        var inner = try openInner(envelope, audience: audience)
        defer { wipe(&inner) }
        return try parse(inner: inner, audience: audience, now: now)
    }

    /// Decrypts a post envelope and removes its padding: the inner plaintext
    /// of a post, a note or a fan-out (its first two bytes: version, kind).
    static func openInner(_ envelope: Envelope, audience: AudienceKey) throws -> [UInt8] {
        let keyID = try keyID(of: envelope)
        guard constantTimeEqual(keyID, audience.keyID) else { throw ProtocolError(.noMatchingKey, "post: encrypted under another key") }
        let nonce = Array(envelope.payload[AudienceKey.keyIDLength..<AudienceKey.keyIDLength + AEAD.nonceLength])
        let ct = Array(envelope.payload[(AudienceKey.keyIDLength + AEAD.nonceLength)...])
        let ad = Envelope.header(.post) + keyID
        var padded: [UInt8]
        do { padded = try AEAD.open(ct, key: audience.postKey, nonce: nonce, associatedData: ad) } catch {
            throw ProtocolError(.decryptionFailed, "post: ciphertext does not decrypt")
        }
        defer { wipe(&padded) }
        guard padded.count >= minBucket, padded.count <= maxBucket, padded.count & (padded.count - 1) == 0 else { throw ProtocolError.malformed("post: padded size is not a bucket") }
        do { return try Padding.unpad(padded, blockSize: padded.count) } catch { throw ProtocolError.malformed("post: bad padding") }
    }

    /// Parses and checks the inner plaintext of a post (kind 1).
    static func parse(inner: [UInt8], audience: AudienceKey, now: UInt64) throws -> Post {
        var r = ByteReader(inner, what: "post")
        let version = try r.u8()
        guard version == Self.version || version == Self.attachmentsVersion else {
            throw ProtocolError(.unsupportedVersion, "post: version \(version) is not supported")
        }
        guard let kind = Kind(rawValue: try r.u8()), kind == .post else { throw ProtocolError.malformed("post: unknown kind") }
        let author = try r.raw(32)
        let audienceID = try r.raw(AudienceKey.audienceIDLength)
        let epoch = try r.u32()
        guard epoch >= AudienceKey.firstEpoch else { throw ProtocolError.malformed("post: epoch 0") }
        let id = try r.raw(idLength)
        let created = try r.u64()
        let len = Int(try r.u32())
        guard len >= (version == Self.version ? 1 : 0), len <= maxTextBytes else { throw ProtocolError.malformed("post: text length out of range") }
        guard let text = String(validating: try r.raw(len), as: UTF8.self) else { throw ProtocolError.malformed("post: text is not UTF-8") }
        let attachments = version == Self.version ? [] : try Attachment.parseList(&r, what: "post")
        let signed = r.consumed
        let sig = try r.raw(64)
        try r.finish()
        guard SigningKey.verify(signature: sig, message: signedMessage(context: version == Self.version ? context : attachmentsContext, signed), publicKey: author) else {
            throw ProtocolError(.badSignature, "post: author signature does not verify")
        }
        guard audienceID == audience.audienceID, epoch == audience.epoch else {
            throw ProtocolError(.wrongRecipient, "post: signed for another audience or epoch than its key")
        }
        guard author == audience.owner else { throw ProtocolError(.wrongRecipient, "post: author is not the audience owner") }
        guard created <= now + maxFutureSkew else { throw ProtocolError(.notValidNow, "post: dated more than a day in the future") }
        return try Post(author: author, audienceID: audienceID, epoch: epoch, id: id, createdAt: created, text: text, attachments: attachments)
    }
}
