import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// Posts' threads: comments, reactions, edits and deletes (`Note`). The
/// author of a post is the hub of its thread: members send their notes to
/// it, it checks that the writer is a member of the post's epoch, applies
/// the note and fans it out, countersigned, to the epoch's members who
/// still are members. Every node applies notes the same way, in any order
/// of arrival: a higher revision wins, a delete wins over everything, and
/// a note about a post or comment not seen yet waits for it.
extension Node {
    /// Comments kept per writer per post; more are refused.
    static let maxCommentsPerPost = 1000
    /// Comments kept per post in all, whoever wrote them (a hostile author
    /// could fan out comments of invented writers); more are refused.
    static let maxCommentsInThread = 10_000
    /// Reactions kept per post (one per writer); more are refused.
    static let maxReactionsPerPost = 1000
    /// Edits and deletes kept per writer per post (one per post or
    /// comment). A delete of the post, and the author's deletes of
    /// comments, are never refused.
    static let maxChangesPerPost = 2 * maxCommentsPerPost

    /// A note a member sent me, the owner of its audience: applied and fanned
    /// out only if its writer is a member now and was one in the post's epoch.
    func receive(_ note: Note, audience: AudienceKey, _ db: Database, now: UInt64) throws -> Outcome {
        let me = try requireKeys().identity
        guard note.owner == me.publicKey, note.writer != me.publicKey else {
            throw ProtocolError(.wrongRecipient, "note: sent to someone other than the post's author")
        }
        guard try Self.isEpochMember(db, note.writer, audienceID: note.audienceID, epoch: note.epoch) else {
            throw ProtocolError(.wrongRecipient, "note: its writer is not a member of the post's audience and epoch")
        }
        if try !Self.isDeleted(db, writer: note.owner, id: note.postID, owner: note.owner, postID: note.postID),
           try Bool.fetchOne(db, sql: "SELECT 1 FROM post WHERE author = ? AND id = ? AND audience = ? AND epoch = ?",
                             arguments: [note.owner.data, note.postID.data, note.audienceID.data, Int64(note.epoch)]) != true {
            throw ProtocolError(.wrongRecipient, "note: about a post of mine that does not exist")
        }
        // The hub sees every comment before it fans it out: a change of one it never saw is made up.
        if note.action == .edit || note.action == .delete, !note.targetsPost,
           try Bool.fetchOne(db, sql: """
               SELECT 1 FROM comment WHERE writer = ?1 AND id = ?2 AND post_author = ?3 AND post_id = ?4
               UNION ALL SELECT 1 FROM item_change WHERE writer = ?1 AND id = ?2 AND post_author = ?3 AND post_id = ?4
               """, arguments: [note.targetWriter.data, note.targetID.data, note.owner.data, note.postID.data]) != true {
            throw ProtocolError(.wrongRecipient, "note: an edit or delete of a comment the post's author never received")
        }
        let applied = try apply(note, db, now: now)
        if case .changed = applied { try fanOut(note, audience: audience, db, now: now) }
        return applied.outcome
    }

    /// A note the owner of its audience fanned out to me.
    func receiveFanOut(_ note: Note, _ db: Database, now: UInt64) throws -> Outcome {
        try apply(note, db, now: now).outcome
    }

    /// Countersigns a note of my thread and queues it for the members of
    /// the post's epoch who are members now, but its writer.
    func fanOut(_ note: Note, audience: AudienceKey, _ db: Database, now: UInt64) throws {
        let envelope = try FanOut.seal(note, owner: try requireKeys().identity, audience: audience)
        let members = try Self.threadMembers(db, audienceID: note.audienceID, epoch: note.epoch, except: note.writer)
        // A comment's attachments go to the audience too: uploaded once fetched from my mailbox.
        try enqueueBlobs(db, Self.blobIDs(note.attachments), batch: envelope.id, to: members, now: now)
        try enqueue(db, envelope: envelope, to: members, now: now, after: note.attachments.isEmpty ? nil : envelope.id)
        try Self.recordEnvelope(db, envelope.id, of: note)
    }

    /// Records that a queued envelope carries a note, by the post or comment
    /// it is about (a reaction: the post), so that `erase` can drop it. A
    /// delete's own envelope is never dropped.
    static func recordEnvelope(_ db: Database, _ envelopeID: [UInt8], of note: Note) throws {
        guard note.action != .delete else { return }
        try db.execute(sql: "INSERT OR IGNORE INTO thread_envelope (post_author, post_id, writer, id, envelope_id) VALUES (?, ?, ?, ?, ?)",
                       arguments: [note.owner.data, note.postID.data, note.targetWriter.data, note.targetID.data, envelopeID.data])
    }

    /// Members of an audience of mine who were sent the key of `epoch` and are members still.
    static func threadMembers(_ db: Database, audienceID: [UInt8], epoch: UInt32, except writer: [UInt8]) throws -> [Data] {
        try Data.fetchAll(db, sql: """
            SELECT m.friend FROM audience_member m JOIN audience_epoch_member e ON e.audience = m.audience AND e.friend = m.friend
            WHERE m.audience = ? AND e.epoch = ? AND m.friend != ?
            """, arguments: [audienceID.data, Int64(epoch), writer.data])
    }

    static func isEpochMember(_ db: Database, _ friend: [UInt8], audienceID: [UInt8], epoch: UInt32) throws -> Bool {
        try threadMembers(db, audienceID: audienceID, epoch: epoch, except: []).contains(friend.data)
    }

    /// Records that a friend was sent the key of an epoch of my audience.
    static func recordEpochMember(_ db: Database, _ key: AudienceKey, _ friend: [UInt8]) throws {
        try db.execute(sql: "INSERT OR IGNORE INTO audience_epoch_member (audience, epoch, friend) VALUES (?, ?, ?)",
                       arguments: [key.audienceID.data, Int64(key.epoch), friend.data])
    }

    /// SQL that is true once the post or comment that a note waits for,
    /// by its wait key, has arrived or was deleted: a post by `owner ||
    /// post id` (48 bytes), a comment by `owner || post id || writer ||
    /// comment id` (96 bytes). Only that post's own items count.
    static func threadItemArrived(_ key: String) -> String {
        let owner = "substr(\(key), 1, 32)", post = "substr(\(key), 33, 16)"
        let writer = "substr(\(key), 49, 32)", id = "substr(\(key), 81, 16)"
        return """
        ((length(\(key)) = 48 AND (EXISTS (SELECT 1 FROM post WHERE author = \(owner) AND id = \(post))
              OR EXISTS (SELECT 1 FROM item_change WHERE writer = \(owner) AND id = \(post) AND post_author = \(owner) AND post_id = \(post) AND deleted = 1)))
         OR (length(\(key)) = 96 AND (EXISTS (SELECT 1 FROM comment WHERE writer = \(writer) AND id = \(id) AND post_author = \(owner) AND post_id = \(post))
              OR EXISTS (SELECT 1 FROM item_change WHERE post_author = \(owner) AND post_id = \(post) AND deleted = 1
                         AND ((writer = \(writer) AND id = \(id)) OR (writer = \(owner) AND id = \(post)))))))
        """
    }

    /// What a note waits for: its post, or (an edit) the comment it edits.
    static func waitKey(_ note: Note, comment: Bool) -> [UInt8] {
        comment ? note.owner + note.postID + note.targetWriter + note.targetID : note.owner + note.postID
    }

    /// Whether a post or comment was deleted: a delete leaves a tombstone.
    static func isDeleted(_ db: Database, writer: [UInt8], id: [UInt8], owner: [UInt8], postID: [UInt8]) throws -> Bool {
        // Asked for every post a sync stores: a cached statement, not one parsed each time.
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM item_change WHERE writer = ? AND id = ? AND post_author = ? AND post_id = ? AND deleted = 1"),
                          arguments: [writer.data, id.data, owner.data, postID.data]) == true
    }

    /// Whether a post arriving now was deleted already (its tombstone came first).
    static func isDeletedPost(_ db: Database, author: [UInt8], id: [UInt8]) throws -> Bool {
        try isDeleted(db, writer: author, id: id, owner: author, postID: id)
    }

    // MARK: Applying a note

    /// What applying a note did.
    enum Applied {
        case changed
        /// A repeat, an older revision, or about something deleted.
        case unchanged
        /// Its post or comment has not arrived.
        case wait(Waiting)
        /// Over a limit.
        case refused(String)

        var outcome: Outcome {
            switch self {
            case .changed, .unchanged: .done(newPosts: 0, newKeys: 0)
            case .wait(let waiting): .wait(waiting)
            case .refused(let reason): .reject(reason)
            }
        }
    }

    /// Applies a note, checked already, to my database.
    func apply(_ note: Note, _ db: Database, now: UInt64) throws -> Applied {
        let atRest = try atRest
        let owner = note.owner.data, post = note.postID.data
        let threadDeleted = try Self.isDeleted(db, writer: note.owner, id: note.postID, owner: note.owner, postID: note.postID)
        if threadDeleted { return .unchanged }
        // The post as it was posted: a note is encrypted under the key of the post's own audience and epoch.
        let havePost = try Bool.fetchOne(db, sql: "SELECT 1 FROM post WHERE author = ? AND id = ? AND audience = ? AND epoch = ?",
                                         arguments: [owner, post, note.audienceID.data, Int64(note.epoch)]) == true
        if !havePost, !(note.action == .delete && note.targetsPost) {
            return .wait(Waiting(reason: "a comment, reaction or change whose post has not arrived", key: Self.waitKey(note, comment: false), kind: .post))
        }
        func count(_ table: String, writer: [UInt8]? = nil) throws -> Int {
            if let writer {
                return try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table) WHERE post_author = ? AND post_id = ? AND writer = ?",
                                        arguments: [owner, post, writer.data]) ?? 0
            }
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table) WHERE post_author = ? AND post_id = ?", arguments: [owner, post]) ?? 0
        }
        let target: [(any DatabaseValueConvertible)?] = [note.targetWriter.data, note.targetID.data, owner, post]
        // A direct message is answered with one: only its writer's edits and deletes apply to it.
        if note.action == .comment || note.action == .reaction, try Self.isDirect(db, owner: note.owner, audienceID: note.audienceID) {
            throw ProtocolError(.wrongRecipient, "note: a comment or reaction on a direct message")
        }
        switch note.action {
        case .comment:
            if try Self.isDeleted(db, writer: note.writer, id: note.targetID, owner: note.owner, postID: note.postID) { return .unchanged }
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM comment WHERE writer = ? AND id = ?", arguments: [note.writer.data, note.targetID.data]) == true {
                return .unchanged
            }
            // Comment ids are the writer's choice: one may not take the id of another post or comment.
            if try Self.isKnownThreadID(db, note.targetID) {
                throw ProtocolError(.wrongRecipient, "note: a comment whose id is already the id of another post or comment")
            }
            guard try count("comment", writer: note.writer) < Self.maxCommentsPerPost else {
                return .refused("the writer has \(Self.maxCommentsPerPost) comments on this post already")
            }
            guard try count("comment") < Self.maxCommentsInThread else {
                return .refused("the post has \(Self.maxCommentsInThread) comments already")
            }
            let attached = note.attachments.reduce(UInt64(0)) { $0 + $1.blob.size + ($1.thumbnail?.size ?? 0) }
            if attached > 0 {
                let before = try Int64.fetchOne(db, sql: """
                    SELECT coalesce(sum(size + coalesce(thumb_size, 0)), 0) FROM attachment WHERE post_author = ? AND post_id = ? AND writer = ?
                    """, arguments: [owner, post, note.writer.data]) ?? 0
                guard UInt64(clamping: before) + attached <= AttachmentLimits.commentBytesPerWriter else {
                    return .refused("the writer's comments on this post would carry more than \(AttachmentLimits.commentBytesPerWriter >> 20) MiB of attachments")
                }
            }
            try db.execute(sql: """
                INSERT OR IGNORE INTO comment (writer, id, post_author, post_id, text, created_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [note.writer.data, note.targetID.data, owner, post, try atRest.seal(note.text, .commentText),
                                 Int64(note.createdAt), Int64(now)])
            guard db.changesCount == 1 else { return .unchanged }
            try storeAttachments(db, note.attachments, postAuthor: note.owner, postID: note.postID, writer: note.writer, itemID: note.targetID)
            return .changed
        case .reaction:
            let current = try Int64.fetchOne(db, sql: "SELECT revision FROM reaction WHERE post_author = ? AND post_id = ? AND writer = ?",
                                             arguments: [owner, post, note.writer.data])
            if let current, current >= Int64(note.revision) { return .unchanged }
            if current == nil, try count("reaction") >= Self.maxReactionsPerPost { return .refused("a post has \(Self.maxReactionsPerPost) reactions already") }
            let emoji: Data? = note.text.isEmpty ? nil : try atRest.seal(note.text, .reaction)
            try db.execute(sql: """
                INSERT OR REPLACE INTO reaction (post_author, post_id, writer, revision, emoji, created_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [owner, post, note.writer.data, Int64(note.revision), emoji, Int64(note.createdAt)])
            return .changed
        case .edit, .delete:
            let current = try Row.fetchOne(db, sql: "SELECT revision, deleted FROM item_change WHERE writer = ? AND id = ? AND post_author = ? AND post_id = ?",
                                           arguments: StatementArguments(target))
            if let current, (current[1] as Int64) != 0 { return .unchanged }
            if note.action == .edit {
                if let current, (current[0] as Int64) >= Int64(note.revision) { return .unchanged }
                if !note.targetsPost, try Bool.fetchOne(db, sql: "SELECT 1 FROM comment WHERE writer = ? AND id = ? AND post_author = ? AND post_id = ?",
                                                        arguments: StatementArguments(target)) != true {
                    return .wait(Waiting(reason: "an edit whose comment has not arrived", key: Self.waitKey(note, comment: true), kind: .post))
                }
            }
            // A member changes only their own items (`Note.parse`), so the changes they made are the rows of their items.
            let uncapped = note.action == .delete && (note.targetsPost || note.writer == note.owner)
            if current == nil, !uncapped, try count("item_change", writer: note.writer) >= Self.maxChangesPerPost {
                return .refused("the writer has \(Self.maxChangesPerPost) edits or deletes on this post already")
            }
            // The edit's text replaces the item's own (`overwrite`): it is kept once.
            let values: [(any DatabaseValueConvertible)?] = [Int64(note.revision), note.action == .delete, Int64(note.createdAt)]
            try db.execute(sql: """
                INSERT OR REPLACE INTO item_change (writer, id, post_author, post_id, revision, text, deleted, changed_at) VALUES (?, ?, ?, ?, ?, NULL, ?, ?)
                """, arguments: StatementArguments(target + values))
            if note.action == .delete { try erase(note, db) } else { try overwrite(note, db) }
            return .changed
        }
    }

    /// Replaces the stored text of an edited post or comment, so that the
    /// earlier text does not stay in the database beside the edit.
    func overwrite(_ edit: Note, _ db: Database) throws {
        let atRest = try atRest
        if edit.targetsPost {
            try db.execute(sql: "UPDATE post SET text = ? WHERE author = ? AND id = ?",
                           arguments: [try atRest.seal(edit.text, .postText), edit.owner.data, edit.postID.data])
        } else {
            try db.execute(sql: "UPDATE comment SET text = ? WHERE writer = ? AND id = ? AND post_author = ? AND post_id = ?",
                           arguments: [try atRest.seal(edit.text, .commentText), edit.targetWriter.data, edit.targetID.data,
                                       edit.owner.data, edit.postID.data])
        }
    }

    /// Erases what a delete deletes, with the queued deliveries that would
    /// carry it: a post with its whole thread, or one comment. The freed
    /// pages are zeroed (secure_delete); the write-ahead log still holds the
    /// old pages until `wipeFreedContentIfPending` empties it.
    func erase(_ note: Note, _ db: Database) throws {
        let owner = note.owner.data, post = note.postID.data
        let changesBefore = db.totalChangesCount
        if note.targetsPost {
            try db.execute(sql: """
                DELETE FROM outbox WHERE envelope_id IN (SELECT envelope_id FROM post WHERE author = ? AND id = ?
                    UNION SELECT envelope_id FROM comment WHERE post_author = ? AND post_id = ?
                    UNION SELECT envelope_id FROM thread_envelope WHERE post_author = ? AND post_id = ?);
                DELETE FROM thread_envelope WHERE post_author = ? AND post_id = ?;
                DELETE FROM post WHERE author = ? AND id = ?;
                DELETE FROM comment WHERE post_author = ? AND post_id = ?;
                DELETE FROM reaction WHERE post_author = ? AND post_id = ?;
                DELETE FROM item_change WHERE post_author = ? AND post_id = ? AND NOT (writer = ? AND id = ?);
                DELETE FROM attachment WHERE post_author = ? AND post_id = ?;
                """, arguments: [owner, post, owner, post, owner, post, owner, post, owner, post, owner, post, owner, post, owner, post, owner, post,
                                 owner, post])
        } else {
            let target: [(any DatabaseValueConvertible)?] = [note.targetWriter.data, note.targetID.data, owner, post]
            try db.execute(sql: """
                DELETE FROM outbox WHERE envelope_id IN (SELECT envelope_id FROM comment WHERE writer = ? AND id = ? AND post_author = ? AND post_id = ?
                    UNION SELECT envelope_id FROM thread_envelope WHERE writer = ? AND id = ? AND post_author = ? AND post_id = ?);
                DELETE FROM thread_envelope WHERE writer = ? AND id = ? AND post_author = ? AND post_id = ?;
                DELETE FROM comment WHERE writer = ? AND id = ? AND post_author = ? AND post_id = ?;
                DELETE FROM attachment WHERE writer = ? AND item_id = ? AND post_author = ? AND post_id = ?;
                """, arguments: StatementArguments(target + target + target + target + target))
        }
        // Only if something was erased: a delete of nothing must not make every node rewrite its database.
        if db.totalChangesCount > changesBefore { try NodeDatabase.setProfile(db, NodeDatabase.wipePending, Data()) }
    }

    /// Empties the freed pages and the write-ahead log if a delete (or an
    /// upgrade) left them holding erased content.
    func wipeFreedContentIfPending() throws {
        if try db.profileValue(NodeDatabase.wipePending) != nil { try db.wipeFreedContent() }
    }
}
