import Foundation
import GRDB
import KithCrypto
import KithProtocol

extension Node {
    /// The outcome of `post`: the new post's id and how many friends it is queued for.
    public struct Posted: Sendable {
        public let id: String
        public let recipients: Int
    }

    /// Seals a post for an audience, stores it in my own feed and queues one
    /// upload per relay for all members' mailboxes.
    public func post(to audienceName: String, text: String) async throws -> Posted {
        let keys = try requireKeys()
        guard !text.isEmpty else { throw NodeError("the post is empty") }
        guard text.utf8.count <= Post.maxTextBytes else { throw NodeError("the post is longer than \(Post.maxTextBytes) bytes") }
        let now = clock()
        return try await db.writer.write { db in
            let audience = try self.currentKey(audienceNamed: audienceName, db)
            let post = try Post(author: keys.identity.publicKey, audienceID: audience.audienceID, epoch: audience.epoch,
                                id: randomBytes(Post.idLength), createdAt: now, text: text)
            let envelope = try post.seal(author: keys.identity, audience: audience)
            try Self.storePost(db, post, audienceOwner: audience.owner, audienceName: audienceName, envelopeID: envelope.id, now: now)
            let cards = try String.fetchAll(db, sql: """
                SELECT f.card FROM audience_member m JOIN friend f ON f.identity = m.friend WHERE m.audience = ?
                """, arguments: [audience.audienceID.data]).map { try ContactCard(text: $0) }
            try Self.enqueue(db, envelope: envelope, to: cards, now: now)
            return Posted(id: Hex.encode(post.id), recipients: cards.count)
        }
    }

    static func storePost(_ db: Database, _ post: Post, audienceOwner: [UInt8], audienceName: String, envelopeID: [UInt8], now: UInt64) throws {
        try db.execute(sql: """
            INSERT OR IGNORE INTO post (id, author, audience_owner, audience, audience_name, epoch, text, created_at, received_at, envelope_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [post.id.data, post.author.data, audienceOwner.data, post.audienceID.data, audienceName,
                             Int64(post.epoch), post.text, Int64(post.createdAt), Int64(now), envelopeID.data])
    }

    /// Queues one delivery job per relay, naming every recipient mailbox on
    /// that relay with the drop token its owner gave me.
    static func enqueue(_ db: Database, envelope: Envelope, to cards: [ContactCard], now: UInt64) throws {
        var byRelay: [String: [DropRequest.Target]] = [:]
        for card in cards {
            for inbox in card.inboxes {
                byRelay[inbox.relay, default: []].append(.init(mailbox: inbox.mailbox, token: inbox.dropToken))
            }
        }
        let bytes = envelope.bytes
        for (relay, targets) in byRelay {
            for chunk in stride(from: 0, to: targets.count, by: DropRequest.maxTargets) {
                let request = DropRequest(targets: Array(targets[chunk..<min(chunk + DropRequest.maxTargets, targets.count)]), envelope: bytes)
                try db.execute(sql: """
                    INSERT OR IGNORE INTO outbox (envelope_id, relay, part, request, state, next_attempt_at, created_at)
                    VALUES (?, ?, ?, ?, 'queued', ?, ?)
                    """, arguments: [envelope.id.data, relay, chunk / DropRequest.maxTargets, request.bytes.data, Int64(now), Int64(now)])
            }
        }
    }
}
