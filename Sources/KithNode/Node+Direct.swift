import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// One message of a direct conversation, as `kith chat` shows it.
public struct ChatMessage: Codable, Sendable, Equatable {
    public let id: String
    /// Who wrote it: the friend's local name, or mine.
    public let author: String
    /// Whether I wrote it.
    public let outgoing: Bool
    public let text: String
    /// The date its author gave it, ISO 8601, UTC.
    public let createdAt: String
    /// When my node received it (for my own, when I wrote it), ISO 8601, UTC.
    public let receivedAt: String
    /// Whether the claimed date is further from its arrival than clocks and
    /// delivery explain: it is then ordered as the feed orders such posts.
    public let misdated: Bool
    /// Whether no `kith chat` or `kith feed` had shown it before.
    public let unread: Bool
    /// Whether its author changed the text since sending it.
    public let edited: Bool
    /// Photos and files, in order (`kith photo get ID N`).
    public let attachments: [FeedAttachment]

    enum CodingKeys: String, CodingKey {
        case id, author, outgoing, text, misdated, unread, edited, attachments
        case createdAt = "created_at"
        case receivedAt = "received_at"
    }
}

/// Direct messages: a post to a direct audience, which I own and whose only
/// member is one friend. Its key messages say it is direct, so the friend's
/// node files its posts as a conversation between the two of us; their
/// answers go through their own direct audience with me. Nobody else holds
/// either key, so nobody else can read or answer.
extension Node {
    /// The name a direct audience's key messages carry; nothing shows it.
    static let directAudienceName = "direct"

    /// Sends a direct message to a friend, making our direct audience (and
    /// queueing its key for them) the first time.
    public func sendDirect(to friendName: String, text: String, attachments sources: [AttachmentSource] = [],
                           keepMetadata: Bool = false) async throws -> Posted {
        try Self.checkPostText(text, attachments: sources.count)
        let now = clock()
        let (attachments, prepared) = try prepareAttachments(sources, keepMetadata: keepMetadata)
        do {
            var posted = try await db.writer.write { db in
                let card = try self.card(ofFriendNamed: friendName, db)
                let audience = try self.directAudience(with: card, friendName: friendName, db, now: now)
                return try self.post(db, to: audience, name: Self.directAudienceName, text: text, attachments: attachments, direct: true, now: now)
            }
            posted.attachments = prepared
            return posted
        } catch {
            try? await removeUnreferencedBlobs(Self.blobIDs(attachments))
            throw error
        }
    }

    /// The current key of my direct audience with a friend: made, or given
    /// a new epoch with the friend back in it if they had been removed.
    func directAudience(with card: ContactCard, friendName: String, _ db: Database, now: UInt64) throws -> AudienceKey {
        let friend = card.identity.data
        guard let id = try Data.fetchOne(db, sql: "SELECT id FROM audience WHERE direct_friend = ?", arguments: [friend]) else {
            guard try Self.sealingKey(db, of: card, now: now) != nil else {
                throw NodeError("\(friendName)'s encryption key is not valid now", hint: "ask \(friendName) for a new card")
            }
            let audience = AudienceKey(owner: try requireKeys().identity.publicKey, audienceID: randomBytes(AudienceKey.audienceIDLength),
                                       epoch: 1, key: SecretBytes(random: 32))
            try db.execute(sql: "INSERT INTO audience (id, name, epoch, created_at, direct_friend) VALUES (?, ?, 1, ?, ?)",
                           arguments: [audience.audienceID.data, try atRest.seal(Self.directAudienceName, .audienceName), now, friend])
            try storeAudienceKey(db, audience, name: Self.directAudienceName, sealed: try sealStored(audience.key, keyID: audience.keyID),
                                 now: now, flags: .direct)
            try db.execute(sql: "INSERT INTO audience_member (audience, friend, added_at) VALUES (?, ?, ?)", arguments: [audience.audienceID.data, friend, now])
            _ = try sendKey(db, audience, name: Self.directAudienceName, flags: .direct, to: card, now: now)
            return audience
        }
        let current = try currentKey(audienceID: [UInt8](id), db)
        if try Bool.fetchOne(db, sql: "SELECT 1 FROM audience_member WHERE audience = ? AND friend = ?", arguments: [id, friend]) == true {
            return current
        }
        guard try Self.sealingKey(db, of: card, now: now) != nil else {
            throw NodeError("\(friendName)'s encryption key is not valid now", hint: "ask \(friendName) for a new card")
        }
        try db.execute(sql: "INSERT INTO audience_member (audience, friend, added_at) VALUES (?, ?, ?)", arguments: [id, friend, now])
        _ = try startEpoch(after: current, name: Self.directAudienceName, db, now: now)
        return try currentKey(audienceID: [UInt8](id), db)
    }

    /// Refuses a change of members of a direct audience: it has its friend and no one else.
    static func refuseIfDirect(_ audienceID: [UInt8], _ db: Database) throws {
        if try flags(ofAudience: audienceID, db).contains(.direct) {
            throw NodeError("a direct conversation has exactly two people: no one can be added to it",
                            hint: "create a group with `kith group create` to write to more people")
        }
    }

    /// Takes an audience key a friend sent me. A key from someone who is not
    /// a friend waits. An audience stays direct or not in every epoch: a key
    /// that says otherwise than the ones I hold for it is refused.
    func receive(_ message: KeyMessage, _ db: Database) throws -> Outcome {
        let owner = message.audience.owner
        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM friend WHERE identity = ?", arguments: [owner.data]) == true else {
            return .wait(Waiting(reason: "an audience key from someone who is not a friend (yet)", key: owner, kind: .keyMessage))
        }
        if let held = try Int64.fetchOne(db, sql: "SELECT flags FROM audience_key WHERE owner = ? AND audience = ? LIMIT 1",
                                         arguments: [owner.data, message.audience.audienceID.data]),
           KeyMessage.Flags(rawValue: UInt8(truncatingIfNeeded: held)).contains(.direct) != message.flags.contains(.direct) {
            throw ProtocolError(.wrongRecipient, "key message: says an audience is direct that was not, or the other way round")
        }
        let sealed = try sealStored(message.audience.key, keyID: message.audience.keyID)
        try storeAudienceKey(db, message.audience, name: message.audienceName, sealed: sealed, now: clock(), flags: message.flags)
        return .done(newPosts: 0, newKeys: db.changesCount)
    }

    /// What the key of `keyID` said of its audience.
    static func keyFlags(_ db: Database, keyID: [UInt8]) throws -> KeyMessage.Flags {
        KeyMessage.Flags(rawValue: UInt8(truncatingIfNeeded: try Int64.fetchOne(db.cachedStatement(sql: "SELECT flags FROM audience_key WHERE key_id = ?"),
                                                                                  arguments: [keyID.data]) ?? 0))
    }

    /// Whether an audience (mine or a friend's) is direct.
    static func isDirect(_ db: Database, owner: [UInt8], audienceID: [UInt8]) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT flags & 1 = 1 FROM audience_key WHERE owner = ? AND audience = ? LIMIT 1",
                          arguments: [owner.data, audienceID.data]) ?? false
    }

    /// My direct conversation with a friend, both directions, the newest
    /// `limit` messages oldest first, in the feed's order (by effective
    /// time: a message dated ahead or long ago cannot move in the
    /// conversation). Those returned count as read from now on.
    /// With `markRead` false (a page refreshing itself, not read yet) the
    /// messages are shown without being marked read.
    public func chat(with friendName: String, limit: Int = 100, markRead: Bool = true) throws -> [ChatMessage] {
        let me = try identity(), myName = try name(), atRest = try atRest, now = Int64(clamping: clock())
        return try db.writer.write { db in
            let friend = try self.card(ofFriendNamed: friendName, db).identity
            let rows = try Row.fetchAll(db, sql: """
                SELECT \(Self.itemColumns) FROM post p
                WHERE p.direct = 1 AND ((p.author = ?1 AND p.audience_owner = ?1)
                    OR (p.author = ?2 AND p.audience IN (SELECT id FROM audience WHERE direct_friend = ?1)))
                ORDER BY p.sort_at DESC, p.rowid DESC LIMIT ?3
                """, arguments: [friend.data, me.data, limit])
            if markRead {
                let shown = try db.cachedStatement(sql: "UPDATE post SET shown_at = ? WHERE rowid = ? AND shown_at IS NULL")
                for row in rows { try shown.execute(arguments: [now, row["rowid"] as Int64]) }
            }
            return try rows.reversed().map { row in
                let id = [UInt8](row["id"] as Data), author = [UInt8](row["author"] as Data), dates = Dates(row)
                return ChatMessage(id: Hex.encode(id), author: author == me ? myName : friendName, outgoing: author == me,
                                   text: try atRest.text(row["text"], .postText), createdAt: dates.created, receivedAt: dates.received,
                                   misdated: dates.misdated, unread: row["unread"] && author != me, edited: row["edited"],
                                   attachments: try Self.feedAttachments(db, atRest: atRest, postAuthor: author, postID: id, writer: author, itemID: id))
            }
        }
    }
}
