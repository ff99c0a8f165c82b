import KithCrypto

/// A member's contribution to a post's thread, signed by its writer: a
/// comment, a reaction, or an edit or delete of a post or comment. It
/// travels in a post envelope (type 2) under the post's audience key: from
/// its writer to the audience's owner as inner kind 2, then from the owner
/// to the members inside a countersigned fan-out (kind 3, `FanOut`), carried
/// byte for byte as its writer signed it.
///
/// The signature covers the writer, the owner, the audience, the epoch, the
/// post and the target, so a note cannot be moved to another thread,
/// audience or epoch, nor be passed off as another member's.
public struct Note: Equatable, Sendable {
    public enum Action: UInt8, Sendable {
        /// A new comment on the post: `target` is the comment's own id.
        case comment = 1
        /// The writer's reaction to the post (an empty text removes it).
        case reaction = 2
        /// New text for the writer's own post or comment.
        case edit = 3
        /// Deletes the writer's post or comment, or, by the owner, any comment on the post.
        case delete = 4
    }

    static let context = "kith/note/v1"
    static let attachmentsContext = "kith/note/v2"
    public static let idLength = 16
    /// The longest comment or edit: as long as a post.
    public static let maxTextBytes = Post.maxTextBytes
    /// The longest reaction.
    public static let maxReactionBytes = 32
    /// Every field but the text, and the signature.
    static let fixedLength = 3 + 32 + 32 + AudienceKey.audienceIDLength + 4 + Post.idLength + 32 + idLength + 8 + 8 + 4 + 64
    /// The longest note: a comment of the longest text with the most, longest attachments.
    static let maxLength = fixedLength + maxTextBytes + 1 + Attachment.maxCount * Attachment.maxEncodedLength

    public let action: Action
    public let writer: [UInt8]
    /// The audience's owner: the post's author, the hub of its thread.
    public let owner: [UInt8]
    public let audienceID: [UInt8]
    /// The post's epoch: the note is encrypted under the same key as the post.
    public let epoch: UInt32
    public let postID: [UInt8]
    /// The author of what the note is about: the writer for a comment, the
    /// owner for a reaction, the edited or deleted item's author otherwise.
    public let targetWriter: [UInt8]
    /// A comment's own id, or the id of the post or comment acted on.
    public let targetID: [UInt8]
    /// 0 for a comment; from 1, per item and writer, for the others: a higher one wins.
    public let revision: UInt64
    public let createdAt: UInt64
    /// A comment's or an edit's text, a reaction (empty: removed), empty for a delete.
    public let text: String
    /// A comment's photos and files (version 2); empty otherwise.
    public let attachments: [Attachment]
    /// The note as its writer signed it: its fields, then the signature.
    public let bytes: [UInt8]

    /// Whether the note is about the post itself rather than one of its comments.
    public var targetsPost: Bool { targetWriter == owner && targetID == postID }

    /// Makes and signs a note. Throws `malformed` for a text or revision its action cannot have.
    public init(action: Action, writer signer: SigningKey, owner: [UInt8], audienceID: [UInt8], epoch: UInt32, postID: [UInt8],
                targetWriter: [UInt8], targetID: [UInt8], revision: UInt64, createdAt: UInt64, text: String,
                attachments: [Attachment] = []) throws {
        precondition(owner.count == 32 && targetWriter.count == 32 && audienceID.count == AudienceKey.audienceIDLength
            && postID.count == Post.idLength && targetID.count == Self.idLength && epoch >= AudienceKey.firstEpoch)
        let writer = signer.publicKey
        try Self.checkShape(action: action, writer: writer, owner: owner, postID: postID, targetWriter: targetWriter,
                            targetID: targetID, revision: revision, createdAt: createdAt, text: Array(text.utf8), attachments: attachments)
        var w = ByteWriter(capacity: Self.fixedLength + text.utf8.count + attachments.count * Attachment.maxEncodedLength)
        w.u8(attachments.isEmpty ? Post.version : Post.attachmentsVersion); w.u8(Post.Kind.note.rawValue); w.u8(action.rawValue)
        w.raw(writer); w.raw(owner); w.raw(audienceID); w.u32(epoch); w.raw(postID)
        w.raw(targetWriter); w.raw(targetID); w.u64(revision); w.u64(createdAt)
        let t = Array(text.utf8)
        w.u32(UInt32(t.count)); w.raw(t)
        if !attachments.isEmpty { Attachment.encodeList(attachments, into: &w) }
        let bytes = w.bytes + signer.sign(signedMessage(context: attachments.isEmpty ? Self.context : Self.attachmentsContext, w.bytes))
        self.init(action: action, writer: writer, owner: owner, audienceID: audienceID, epoch: epoch, postID: postID, targetWriter: targetWriter,
                  targetID: targetID, revision: revision, createdAt: createdAt, text: text, attachments: attachments, bytes: bytes)
    }

    private init(action: Action, writer: [UInt8], owner: [UInt8], audienceID: [UInt8], epoch: UInt32, postID: [UInt8], targetWriter: [UInt8],
                 targetID: [UInt8], revision: UInt64, createdAt: UInt64, text: String, attachments: [Attachment], bytes: [UInt8]) {
        self.action = action; self.writer = writer; self.owner = owner; self.audienceID = audienceID; self.epoch = epoch
        self.postID = postID; self.targetWriter = targetWriter; self.targetID = targetID; self.revision = revision
        self.createdAt = createdAt; self.text = text; self.attachments = attachments; self.bytes = bytes
    }

    /// What each action's fields must be (`malformed` otherwise).
    private static func checkShape(action: Action, writer: [UInt8], owner: [UInt8], postID: [UInt8], targetWriter: [UInt8],
                                   targetID: [UInt8], revision: UInt64, createdAt: UInt64, text: [UInt8], attachments: [Attachment]) throws {
        guard attachments.count <= Attachment.maxCount else { throw ProtocolError.malformed("note: at most \(Attachment.maxCount) attachments") }
        guard attachments.isEmpty || action == .comment else { throw ProtocolError.malformed("note: only a comment has attachments") }
        guard revision <= UInt64(Int64.max), createdAt <= UInt64(Int64.max) else { throw ProtocolError.malformed("note: a 64-bit field is above 2^63 - 1") }
        switch action {
        case .comment:
            guard targetWriter == writer, targetID != postID else { throw ProtocolError.malformed("note: a comment's target must be its own new id") }
            guard revision == 0 else { throw ProtocolError.malformed("note: a comment has revision 0") }
            guard !text.isEmpty || !attachments.isEmpty, text.count <= maxTextBytes else {
                throw ProtocolError.malformed("note: text must be 1 to \(maxTextBytes) bytes (0 with attachments)")
            }
        case .edit:
            guard revision >= 1 else { throw ProtocolError.malformed("note: an edit's revision starts at 1") }
            guard !text.isEmpty, text.count <= maxTextBytes else { throw ProtocolError.malformed("note: text must be 1 to \(maxTextBytes) bytes") }
        case .reaction:
            guard targetWriter == owner, targetID == postID else { throw ProtocolError.malformed("note: a reaction's target is the post") }
            guard revision >= 1 else { throw ProtocolError.malformed("note: a reaction's revision starts at 1") }
            if !text.isEmpty { try Reaction.check(text) }
        case .delete:
            guard revision >= 1 else { throw ProtocolError.malformed("note: a delete's revision starts at 1") }
            guard text.isEmpty else { throw ProtocolError.malformed("note: a delete has no text") }
        }
        // The post's id names the post, whose writer is its author; a comment never has it (above).
        if action == .edit || action == .delete, targetID == postID, targetWriter != owner {
            throw ProtocolError.malformed("note: an edit or delete of the post's id must name the post's author as its writer")
        }
        guard let _ = String(validating: text, as: UTF8.self) else { throw ProtocolError.malformed("note: text is not UTF-8") }
    }

    /// Parses a note and checks its shape, its writer's signature and that
    /// the writer may act on the target; not yet its audience (`check`).
    public static func parse(_ bytes: [UInt8]) throws -> Note {
        var r = ByteReader(bytes, what: "note")
        let version = try r.u8()
        guard version == Post.version || version == Post.attachmentsVersion else {
            throw ProtocolError(.unsupportedVersion, "note: version \(version) is not supported")
        }
        guard try r.u8() == Post.Kind.note.rawValue else { throw ProtocolError.malformed("note: not a note") }
        guard let action = Action(rawValue: try r.u8()) else { throw ProtocolError.malformed("note: unknown action") }
        let writer = try r.raw(32), owner = try r.raw(32), audienceID = try r.raw(AudienceKey.audienceIDLength)
        let epoch = try r.u32()
        guard epoch >= AudienceKey.firstEpoch else { throw ProtocolError.malformed("note: epoch 0") }
        let postID = try r.raw(Post.idLength), targetWriter = try r.raw(32), targetID = try r.raw(idLength)
        let revision = try r.u64(), createdAt = try r.u64()
        let length = Int(try r.u32())
        guard length <= maxTextBytes else { throw ProtocolError.malformed("note: text length out of range") }
        let text = try r.raw(length)
        if version == Post.attachmentsVersion, action != .comment { throw ProtocolError.malformed("note: only a comment has version 2") }
        let attachments = version == Post.version ? [] : try Attachment.parseList(&r, what: "note")
        let signed = r.consumed
        let sig = try r.raw(64)
        try r.finish()
        try checkShape(action: action, writer: writer, owner: owner, postID: postID, targetWriter: targetWriter, targetID: targetID,
                       revision: revision, createdAt: createdAt, text: text, attachments: attachments)
        guard SigningKey.verify(signature: sig, message: signedMessage(context: version == Post.version ? context : attachmentsContext, signed),
                                publicKey: writer) else {
            throw ProtocolError(.badSignature, "note: writer signature does not verify")
        }
        switch action {
        case .edit where targetWriter != writer:
            throw ProtocolError(.wrongRecipient, "note: an edit of someone else's post or comment")
        case .delete where targetWriter != writer && writer != owner:
            throw ProtocolError(.wrongRecipient, "note: a delete of someone else's comment by someone other than the post's author")
        default: break
        }
        return Note(action: action, writer: writer, owner: owner, audienceID: audienceID, epoch: epoch, postID: postID,
                    targetWriter: targetWriter, targetID: targetID, revision: revision, createdAt: createdAt,
                    text: String(decoding: text, as: UTF8.self), attachments: attachments, bytes: bytes)
    }

    /// Checks that the note belongs to the audience key it was encrypted
    /// under (owner, audience, epoch) and is not dated in the future.
    func check(audience: AudienceKey, now: UInt64) throws {
        guard owner == audience.owner, audienceID == audience.audienceID, epoch == audience.epoch else {
            throw ProtocolError(.wrongRecipient, "note: signed for another owner, audience or epoch than its key")
        }
        guard createdAt <= now + Post.maxFutureSkew else { throw ProtocolError(.notValidNow, "note: dated more than a day in the future") }
    }

    /// The envelope that takes the note to the audience's owner (inner kind 2).
    public func seal(audience: AudienceKey, nonce: [UInt8] = randomBytes(AEAD.nonceLength)) throws -> Envelope {
        precondition(audience.owner == owner && audience.audienceID == audienceID && audience.epoch == epoch)
        return try Post.seal(inner: bytes, audience: audience, nonce: nonce)
    }
}

/// The owner's fan-out of a note to the audience: the note as its writer
/// signed it, countersigned by the owner, who checked that the writer is a
/// member of the post's epoch. Members verify both signatures.
///
///     inner = version u8 (= 1) || kind u8 (= 3) || note_length u32 || note
///          || Sign(owner_sk, "kith/fan-out/v1", all of the above)
public enum FanOut {
    static let context = "kith/fan-out/v1"

    /// Countersigns `note` and encrypts it under the post's audience key.
    public static func seal(_ note: Note, owner signer: SigningKey, audience: AudienceKey,
                            nonce: [UInt8] = randomBytes(AEAD.nonceLength)) throws -> Envelope {
        precondition(signer.publicKey == note.owner && audience.owner == note.owner && audience.audienceID == note.audienceID && audience.epoch == note.epoch)
        var w = ByteWriter(capacity: note.bytes.count + 70)
        w.u8(Post.version); w.u8(Post.Kind.fanOut.rawValue); w.u32(UInt32(note.bytes.count)); w.raw(note.bytes)
        return try Post.seal(inner: w.bytes + signer.sign(signedMessage(context: context, w.bytes)), audience: audience, nonce: nonce)
    }

    static func parse(_ inner: [UInt8], audience: AudienceKey, now: UInt64) throws -> Note {
        var r = ByteReader(inner, what: "fan-out")
        _ = try r.raw(2)
        let length = Int(try r.u32())
        guard length >= Note.fixedLength, length <= Note.maxLength else { throw ProtocolError.malformed("fan-out: note length out of range") }
        let noteBytes = try r.raw(length)
        let signed = r.consumed
        let sig = try r.raw(64)
        try r.finish()
        let note = try Note.parse(noteBytes)
        guard SigningKey.verify(signature: sig, message: signedMessage(context: context, signed), publicKey: note.owner) else {
            throw ProtocolError(.badSignature, "fan-out: owner countersignature does not verify")
        }
        try note.check(audience: audience, now: now)
        return note
    }
}

/// What a post envelope holds once opened.
public enum AudienceMessage: Sendable {
    case post(Post)
    /// A member's note, for the owner to check and fan out.
    case note(Note)
    /// A note the owner fanned out, countersigned.
    case fanOut(Note)
    /// The owner's list of the audience's members (`MemberList`).
    case memberList(MemberList)

    /// Decrypts a post envelope with the audience key it names and checks
    /// whatever it holds (see `Post.open`, `Note.parse`, `FanOut`).
    public static func open(_ envelope: Envelope, audience: AudienceKey, now: UInt64) throws -> AudienceMessage {
        var inner = try Post.openInner(envelope, audience: audience)
        defer { wipe(&inner) }
        guard inner.count >= 2 else { throw ProtocolError.malformed("post: truncated") }
        guard inner[0] == Post.version || inner[0] == Post.attachmentsVersion else { throw ProtocolError(.unsupportedVersion, "post: version \(inner[0]) is not supported") }
        // Only posts and comments have a version 2; a fan-out and a member list stay at 1.
        if inner[0] == Post.attachmentsVersion, inner[1] != Post.Kind.post.rawValue, inner[1] != Post.Kind.note.rawValue {
            throw ProtocolError(.unsupportedVersion, "post: version 2 of inner kind \(inner[1]) is not supported")
        }
        switch Post.Kind(rawValue: inner[1]) {
        case .post: return .post(try Post.parse(inner: inner, audience: audience, now: now))
        case .note:
            let note = try Note.parse(inner)
            try note.check(audience: audience, now: now)
            return .note(note)
        case .fanOut: return .fanOut(try FanOut.parse(inner, audience: audience, now: now))
        case .memberList: return .memberList(try MemberList.parse(inner, audience: audience))
        case nil: throw ProtocolError.malformed("post: unknown kind")
        }
    }
}

/// The rule for a reaction on the wire: 1 to 32 bytes of UTF-8 with no code
/// point of the general categories Cc, Zs, Zl, Zp, or Cf other than U+200D
/// (the zero width joiner of emoji sequences). Kith's tools also require a
/// single grapheme cluster (one emoji); decoders need not, since grapheme
/// rules change with Unicode versions.
public enum Reaction {
    public static func check(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty, bytes.count <= Note.maxReactionBytes else {
            throw ProtocolError.malformed("note: a reaction must be 1 to \(Note.maxReactionBytes) bytes")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ProtocolError.malformed("note: reaction is not UTF-8") }
        if let bad = text.unicodeScalars.first(where: isRefused) {
            throw ProtocolError.malformed("note: a reaction contains a control, format or space character (U+\(Name.hex(bad.value)))")
        }
    }

    static func isRefused(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .spaceSeparator, .lineSeparator, .paragraphSeparator: true
        case .format: scalar.value != 0x200D
        default: false
        }
    }
}
