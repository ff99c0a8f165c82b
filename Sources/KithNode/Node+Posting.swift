import Foundation
import GRDB
import KithCrypto
import KithProtocol

extension Node {
    /// The outcome of `post`: the new post's id and how many friends it is queued for.
    public struct Posted: Codable, Sendable {
        public let id: String
        public let recipients: Int
    }

    /// Seals a post for an audience, stores it in my own feed and queues one
    /// upload per relay for all members' mailboxes.
    public func post(to audienceName: String, text: String) async throws -> Posted {
        try Self.checkPostText(text)
        let now = clock()
        return try await db.writer.write { db in
            try self.post(db, to: try self.currentKey(audienceNamed: audienceName, db), name: audienceName, text: text, direct: false, now: now)
        }
    }

    static func checkPostText(_ text: String) throws {
        guard !text.isEmpty else { throw NodeError("the post is empty") }
        guard text.utf8.count <= Post.maxTextBytes else { throw NodeError("the post is longer than \(Post.maxTextBytes) bytes") }
    }

    /// Seals a post under the current key of one of my audiences, stores it
    /// and queues it for the audience's members.
    func post(_ db: Database, to audience: AudienceKey, name: String, text: String, direct: Bool, now: UInt64) throws -> Posted {
        let keys = try requireKeys()
        let post = try Post(author: keys.identity.publicKey, audienceID: audience.audienceID, epoch: audience.epoch,
                            id: randomBytes(Post.idLength), createdAt: now, text: text)
        let envelope = try post.seal(author: keys.identity, audience: audience)
        try storePost(db, post, audienceOwner: audience.owner, audienceName: name, direct: direct, envelopeID: envelope.id, now: now)
        let members = try Data.fetchAll(db, sql: "SELECT friend FROM audience_member WHERE audience = ?", arguments: [audience.audienceID.data])
        try enqueue(db, envelope: envelope, to: members, now: now)
        return Posted(id: Hex.encode(post.id), recipients: members.count)
    }

    /// Stores a post in the feed, its text and audience name sealed;
    /// `direct` for a direct message (its audience's key says so).
    func storePost(_ db: Database, _ post: Post, audienceOwner: [UInt8], audienceName: String, direct: Bool, envelopeID: [UInt8], now: UInt64) throws {
        let atRest = try atRest
        try db.execute(sql: """
            INSERT OR IGNORE INTO post (id, author, audience_owner, audience, audience_name, epoch, text, created_at, received_at, envelope_id, direct)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [post.id.data, post.author.data, audienceOwner.data, post.audienceID.data, try atRest.seal(audienceName, .postAudience),
                             Int64(post.epoch), try atRest.seal(post.text, .postText), Int64(post.createdAt), Int64(now), envelopeID.data, direct])
    }

    /// Queues one delivery job per relay, naming every mailbox of these
    /// friends on that relay with the drop token its owner gave me. The
    /// request (which holds the drop tokens) is stored sealed.
    func enqueue(_ db: Database, envelope: Envelope, to friends: [Data], now: UInt64) throws {
        let atRest = try atRest
        var byRelay: [String: [DropRequest.Target]] = [:]
        let inboxes = try db.cachedStatement(sql: "SELECT relay, mailbox, drop_token FROM friend_inbox WHERE friend = ?")
        for friend in friends {
            for row in try Row.fetchAll(inboxes, arguments: [friend]) {
                byRelay[row[0], default: []].append(.init(mailbox: [UInt8](row[1] as Data), token: try atRest.open(row[2], .dropToken)))
            }
        }
        let bytes = envelope.bytes
        for (relay, targets) in byRelay {
            for (part, start) in stride(from: 0, to: targets.count, by: DropRequest.maxTargets).enumerated() {
                let request = DropRequest(targets: Array(targets[start..<min(start + DropRequest.maxTargets, targets.count)]), envelope: bytes)
                try db.execute(sql: """
                    INSERT OR IGNORE INTO outbox (envelope_id, relay, part, request, state, next_attempt_at, created_at)
                    VALUES (?, ?, ?, ?, 'queued', ?, ?)
                    """, arguments: [envelope.id.data, relay, part, try atRest.seal(request.bytes, .request), Int64(now), Int64(now)])
            }
        }
    }
}
