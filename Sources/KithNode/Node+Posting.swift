import Foundation
import GRDB
import KithCrypto
import KithProtocol

extension Node {
    /// The outcome of `post`: the new post's id and how many friends it is queued for.
    public struct Posted: Codable, Sendable {
        public let id: String
        public let recipients: Int
        /// What preparing each attachment did, in order.
        public var attachments: [PreparedAttachment] = []
    }

    /// Seals a post for an audience, stores it in my own feed and queues one
    /// upload per relay for all members' mailboxes: first one upload of each
    /// attachment's blobs, then the post.
    public func post(to audienceName: String, text: String, attachments sources: [AttachmentSource] = [], keepMetadata: Bool = false) async throws -> Posted {
        try Self.checkPostText(text, attachments: sources.count)
        let now = clock()
        let (attachments, prepared) = try prepareAttachments(sources, keepMetadata: keepMetadata)
        do {
            var posted = try await db.writer.write { db in
                try self.post(db, to: try self.currentKey(audienceNamed: audienceName, db), name: audienceName, text: text,
                              attachments: attachments, direct: false, now: now)
            }
            posted.attachments = prepared
            return posted
        } catch {
            try? await removeUnreferencedBlobs(Self.blobIDs(attachments))
            throw error
        }
    }

    /// A post's or message's text may be empty only when something is attached.
    static func checkPostText(_ text: String, attachments: Int = 0) throws {
        guard !text.isEmpty || attachments > 0 else { throw NodeError("the post is empty") }
        guard text.utf8.count <= Post.maxTextBytes else { throw NodeError("the post is longer than \(Post.maxTextBytes) bytes") }
    }

    /// Seals a post under the current key of one of my audiences, stores it
    /// and queues it for the audience's members, after its attachments' blobs.
    func post(_ db: Database, to audience: AudienceKey, name: String, text: String, attachments: [Attachment] = [],
              direct: Bool, now: UInt64) throws -> Posted {
        let keys = try requireKeys()
        let post = try Post(author: keys.identity.publicKey, audienceID: audience.audienceID, epoch: audience.epoch,
                            id: randomBytes(Post.idLength), createdAt: now, text: text, attachments: attachments)
        let envelope = try post.seal(author: keys.identity, audience: audience)
        try storePost(db, post, audienceOwner: audience.owner, audienceName: name, direct: direct, envelopeID: envelope.id, now: now)
        let members = try Data.fetchAll(db, sql: "SELECT friend FROM audience_member WHERE audience = ?", arguments: [audience.audienceID.data])
        try enqueueBlobs(db, Self.blobIDs(attachments), batch: envelope.id, to: members, now: now)
        try enqueue(db, envelope: envelope, to: members, now: now, after: attachments.isEmpty ? nil : envelope.id)
        return Posted(id: Hex.encode(post.id), recipients: members.count)
    }

    /// Stores a post in the feed, its text and audience name sealed;
    /// `direct` for a direct message (its audience's key says so), with its
    /// attachments. Returns 1 if it is new, 0 if it was there.
    @discardableResult
    func storePost(_ db: Database, _ post: Post, audienceOwner: [UInt8], audienceName: String, direct: Bool, envelopeID: [UInt8], now: UInt64) throws -> Int {
        let atRest = try atRest
        try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO post (id, author, audience_owner, audience, audience_name, epoch, text, created_at, received_at, envelope_id, direct)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [post.id.data, post.author.data, audienceOwner.data, post.audienceID.data, try atRest.seal(audienceName, .postAudience),
                             Int64(post.epoch), try atRest.seal(post.text, .postText), Int64(post.createdAt), Int64(now), envelopeID.data, direct])
        guard db.changesCount == 1 else { return 0 }
        try storeAttachments(db, post.attachments, postAuthor: post.author, postID: post.id, writer: post.author, itemID: post.id)
        return 1
    }

    /// Queues one delivery job per relay, naming every mailbox of these
    /// friends on that relay with the drop token its owner gave me. The
    /// request (which holds the drop tokens) is stored sealed. With `after`,
    /// each relay's job waits for that relay's blob uploads of that batch (`enqueueBlobs`).
    func enqueue(_ db: Database, envelope: Envelope, to friends: [Data], now: UInt64, after batch: [UInt8]? = nil) throws {
        let atRest = try atRest
        let bytes = envelope.bytes
        for (relay, targets) in try targetsByRelay(db, friends) {
            for (part, start) in stride(from: 0, to: targets.count, by: DropRequest.maxTargets).enumerated() {
                let request = DropRequest(targets: Array(targets[start..<min(start + DropRequest.maxTargets, targets.count)]), envelope: bytes)
                try db.execute(sql: """
                    INSERT OR IGNORE INTO outbox (envelope_id, relay, part, request, state, next_attempt_at, created_at, blob_batch)
                    VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)
                    """, arguments: [envelope.id.data, relay, part, try atRest.seal(request.bytes, .request), Int64(now), Int64(now), batch?.data])
            }
        }
    }

    /// Every mailbox of these friends, with the drop token its owner gave me, by relay.
    func targetsByRelay(_ db: Database, _ friends: [Data]) throws -> [String: [DropRequest.Target]] {
        let atRest = try atRest
        var byRelay: [String: [DropRequest.Target]] = [:]
        let inboxes = try db.cachedStatement(sql: "SELECT relay, mailbox, drop_token FROM friend_inbox WHERE friend = ?")
        for friend in friends {
            for row in try Row.fetchAll(inboxes, arguments: [friend]) {
                byRelay[row[0], default: []].append(.init(mailbox: [UInt8](row[1] as Data), token: try atRest.open(row[2], .dropToken)))
            }
        }
        return byRelay
    }
}
