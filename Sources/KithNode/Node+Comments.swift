import Foundation
import GRDB
import KithCrypto
import KithProtocol

extension Node {
    /// What a comment, reaction, edit or delete did: the new comment's id
    /// (or the item acted on) and how many friends it is queued for.
    public struct ThreadChange: Codable, Sendable, Equatable {
        public let id: String
        public let recipients: Int
        /// Whether the item acted on is a post (else a comment).
        public let isPost: Bool
        /// What preparing each attachment of a new comment did, in order.
        public var attachments: [PreparedAttachment] = []
    }

    /// Comments on a post (or, given a comment's id, on that comment's
    /// post: comments are one level deep). The comment goes to the post's
    /// author, who passes it on to the audience. Photos or files go with
    /// it as with a post: uploaded first, to the same mailboxes.
    public func comment(on id: String, text: String, attachments sources: [AttachmentSource] = [], keepMetadata: Bool = false) async throws -> ThreadChange {
        let keys = try requireKeys()
        guard !text.isEmpty || !sources.isEmpty else { throw NodeError("the comment is empty") }
        guard text.utf8.count <= Note.maxTextBytes else { throw NodeError("the comment is longer than \(Note.maxTextBytes) bytes") }
        let now = clock()
        let (attachments, prepared) = try prepareAttachments(sources, keepMetadata: keepMetadata)
        do {
            var change = try await comment(on: id, text: text, attachments: attachments, keys: keys, now: now)
            change.attachments = prepared
            return change
        } catch {
            try? await removeUnreferencedBlobs(Self.blobIDs(attachments))
            throw error
        }
    }

    func comment(on id: String, text: String, attachments: [Attachment], keys: Keystore, now: UInt64) async throws -> ThreadChange {
        try await db.writer.write { db in
            let item = try self.threadItem(id, db, actor: keys.identity.publicKey, action: .comment)
            var commentID = randomBytes(Note.idLength)
            while try Self.isKnownThreadID(db, commentID) { commentID = randomBytes(Note.idLength) }
            let note = try Note(action: .comment, writer: keys.identity, owner: item.owner, audienceID: item.audienceID, epoch: item.epoch,
                                postID: item.postID, targetWriter: keys.identity.publicKey, targetID: commentID, revision: 0, createdAt: now, text: text,
                                attachments: attachments)
            let (recipients, envelopeID) = try self.send(note, db, now: now)
            try db.execute(sql: "UPDATE comment SET envelope_id = ? WHERE writer = ? AND id = ?",
                           arguments: [envelopeID.data, keys.identity.publicKey.data, commentID.data])
            return ThreadChange(id: Hex.encode(commentID), recipients: recipients, isPost: false)
        }
    }

    /// Sets my reaction to a post (or a comment's post), replacing the one
    /// I had; nil removes it.
    public func react(to id: String, with emoji: String?) async throws -> ThreadChange {
        let keys = try requireKeys()
        if let emoji { try Validate.reaction(emoji) }
        let now = clock()
        return try await db.writer.write { db in
            let item = try self.threadItem(id, db, actor: keys.identity.publicKey, action: .reaction)
            let me = keys.identity.publicKey
            let revision = try Int64.fetchOne(db, sql: "SELECT revision FROM reaction WHERE post_author = ? AND post_id = ? AND writer = ?",
                                              arguments: [item.owner.data, item.postID.data, me.data]) ?? 0
            let note = try Note(action: .reaction, writer: keys.identity, owner: item.owner, audienceID: item.audienceID, epoch: item.epoch,
                                postID: item.postID, targetWriter: item.owner, targetID: item.postID, revision: UInt64(clamping: revision) + 1,
                                createdAt: now, text: emoji ?? "")
            return ThreadChange(id: Hex.encode(item.postID), recipients: try self.send(note, db, now: now).recipients, isPost: true)
        }
    }

    /// Replaces the text of my post or comment.
    public func edit(_ id: String, text: String) async throws -> ThreadChange {
        guard !text.isEmpty else { throw NodeError("the new text is empty") }
        guard text.utf8.count <= Note.maxTextBytes else { throw NodeError("the new text is longer than \(Note.maxTextBytes) bytes") }
        return try await change(id, action: .edit, text: text)
    }

    /// Deletes my post (with its comments) or comment, or a comment on my
    /// post. My node erases it, and so does every friend's node that
    /// receives the delete; what a friend copied elsewhere stays there.
    public func delete(_ id: String) async throws -> ThreadChange {
        let blobIDs = try await attachmentBlobIDs(of: id)
        let deleted = try await change(id, action: .delete, text: "")
        try wipeFreedContentIfPending()
        try await removeUnreferencedBlobs(blobIDs)
        return deleted
    }

    private func change(_ id: String, action: Note.Action, text: String) async throws -> ThreadChange {
        let keys = try requireKeys()
        let now = clock()
        return try await db.writer.write { db in
            let item = try self.threadItem(id, db, comments: true, actor: keys.identity.publicKey, action: action)
            let me = keys.identity.publicKey
            guard item.writer == me || (action == .delete && item.owner == me) else {
                throw NodeError(action == .edit ? "you can edit only your own posts and comments"
                                                : "you can delete only your own posts and comments, and comments on your posts")
            }
            let revision = try Int64.fetchOne(db, sql: """
                SELECT revision FROM item_change WHERE writer = ? AND id = ? AND post_author = ? AND post_id = ?
                """, arguments: [item.writer.data, item.id.data, item.owner.data, item.postID.data]) ?? 0
            let note = try Note(action: action, writer: keys.identity, owner: item.owner, audienceID: item.audienceID, epoch: item.epoch,
                                postID: item.postID, targetWriter: item.writer, targetID: item.id,
                                // A delete wins whatever its revision, so one stays valid even after an edit at the highest.
                                revision: action == .delete ? 1 : UInt64(clamping: revision) + 1,
                                createdAt: now, text: text)
            return ThreadChange(id: Hex.encode(item.id), recipients: try self.send(note, db, now: now).recipients, isPost: item.id == item.postID)
        }
    }

    /// Applies my own note and queues it: to the post's author, or, if the
    /// post is mine, countersigned to its audience. Returns the friends it
    /// is queued for and its envelope's id.
    private func send(_ note: Note, _ db: Database, now: UInt64) throws -> (recipients: Int, envelopeID: [UInt8]) {
        let keys = try requireKeys()
        guard let keyID = try Data.fetchOne(db, sql: "SELECT key_id FROM audience_key WHERE owner = ? AND audience = ? AND epoch = ?",
                                            arguments: [note.owner.data, note.audienceID.data, Int64(note.epoch)]),
              let (audience, _) = try audienceKey(keyID: [UInt8](keyID), db) else {
            throw NodeError("the key of this post's audience is missing from the database")
        }
        let envelope: Envelope, recipients: [Data]
        if note.owner == keys.identity.publicKey {
            envelope = try FanOut.seal(note, owner: keys.identity, audience: audience)
            recipients = try Self.threadMembers(db, audienceID: note.audienceID, epoch: note.epoch, except: note.owner)
        } else {
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM friend_inbox WHERE friend = ?", arguments: [note.owner.data]) == true else {
                throw NodeError("the post's author is not your friend any more (or has no inbox): nobody would receive this")
            }
            envelope = try note.seal(audience: audience)
            recipients = [note.owner.data]
        }
        switch try apply(note, db, now: now) {
        case .changed: break
        case .refused(let reason): throw NodeError("refused: \(reason)")
        case .unchanged, .wait:
            throw NodeError("this changes nothing: the post or comment was deleted, or a newer change of it is known")
        }
        try enqueueBlobs(db, Self.blobIDs(note.attachments), batch: envelope.id, to: recipients, now: now)
        try enqueue(db, envelope: envelope, to: recipients, now: now, after: note.attachments.isEmpty ? nil : envelope.id)
        try Self.recordEnvelope(db, envelope.id, of: note)
        return (recipients.count, envelope.id)
    }

    /// A post or comment I can see, by its id (32 hex digits).
    struct ThreadItem {
        let owner: [UInt8], audienceID: [UInt8], epoch: UInt32, postID: [UInt8]
        /// The post's author for a post, the comment's writer for a comment.
        let writer: [UInt8], id: [UInt8]
        var isPost: Bool { writer == owner && id == postID }
    }

    /// Finds a post, or (with `comments`) a comment, by id; a comment's
    /// post when `comments` is false (comments are one level deep).
    ///
    /// Comment ids are chosen by their writers, so an id may match more
    /// than one item. With `actor`, only the items that person may act on
    /// count: to comment or react, a post is preferred to a comment (and
    /// the actor's own post to others'); to edit, their own items; to
    /// delete, their own items and comments on their own posts. So a
    /// colliding id cannot keep someone from their own items.
    func threadItem(_ hex: String, _ db: Database, comments: Bool = false,
                    actor: [UInt8]? = nil, action: Note.Action? = nil) throws -> ThreadItem {
        guard let id = Hex.decode(hex.lowercased()), id.count == Post.idLength else {
            throw NodeError("\"\(hex.prefix(64))\" is not the id of a post or comment", hint: "ids are 32 hex digits; `kith feed` shows them")
        }
        let posts = try Row.fetchAll(db, sql: "SELECT author, audience, epoch, id, author, id FROM post WHERE id = ?", arguments: [id.data])
        let commentRows = try Row.fetchAll(db, sql: """
            SELECT c.post_author, p.audience, p.epoch, c.post_id, c.writer, c.id FROM comment c
            JOIN post p ON p.author = c.post_author AND p.id = c.post_id WHERE c.id = ?
            """, arguments: [id.data])
        let all = (posts + commentRows).map { row in
            ThreadItem(owner: [UInt8](row[0] as Data), audienceID: [UInt8](row[1] as Data), epoch: UInt32(clamping: row[2] as Int64),
                       postID: [UInt8](row[3] as Data), writer: [UInt8](row[4] as Data), id: [UInt8](row[5] as Data))
        }
        guard !all.isEmpty else { throw NodeError("no post or comment \(Hex.encode(id)) in your feed") }
        var found = all
        if let actor {
            switch action {
            case .edit?: found = all.filter { $0.writer == actor }
            case .delete?: found = all.filter { $0.writer == actor || $0.owner == actor }
            default: break
            }
            guard !found.isEmpty else {
                throw NodeError(action == .edit ? "you can edit only your own posts and comments"
                                                : "you can delete only your own posts and comments, and comments on your posts")
            }
            // A post before a comment, my own before others'.
            func rank(_ item: ThreadItem) -> Int { (item.isPost ? 0 : 2) + (item.writer == actor ? 0 : 1) }
            let best = found.map(rank).min() ?? 0
            found = found.filter { rank($0) == best }
        }
        guard found.count == 1, let item = found.first else { throw NodeError("more than one post or comment has the id \(Hex.encode(id))") }
        if action == .comment || action == .reaction, try Self.isDirect(db, owner: item.owner, audienceID: item.audienceID) {
            throw NodeError("a direct message takes no comments or reactions", hint: "answer it with `kith dm`")
        }
        if comments { return item }
        return ThreadItem(owner: item.owner, audienceID: item.audienceID, epoch: item.epoch, postID: item.postID, writer: item.owner, id: item.postID)
    }
}

extension Node {
    /// Whether an id is already the id of a post or comment I know of (a
    /// deleted one included), so that a new comment cannot take it.
    static func isKnownThreadID(_ db: Database, _ id: [UInt8]) throws -> Bool {
        try Bool.fetchOne(db, sql: """
            SELECT EXISTS (SELECT 1 FROM post WHERE id = ?1) OR EXISTS (SELECT 1 FROM comment WHERE id = ?1)
                OR EXISTS (SELECT 1 FROM item_change WHERE id = ?1)
            """, arguments: [id.data]) == true
    }
}

extension Validate {
    /// A reaction as typed: one emoji (a single grapheme cluster) that
    /// follows the protocol's rule for reactions.
    static func reaction(_ emoji: String) throws {
        do { try Reaction.check(Array(emoji.utf8)) } catch let error as ProtocolError {
            throw NodeError(error.detail.replacingOccurrences(of: "note: ", with: ""), hint: "react with one emoji, e.g. 👍")
        }
        guard emoji.count == 1 else { throw NodeError("a reaction is one emoji or character, not \(emoji.count)", hint: "react with one emoji, e.g. 👍") }
    }
}
