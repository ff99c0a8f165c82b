import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// A post as shown in the feed.
public struct FeedItem: Codable, Sendable, Equatable {
    public let id: String
    /// The author's local name (a friend's name, or mine).
    public let author: String
    /// The audience's name as its owner named it.
    public let audience: String
    public let text: String
    /// ISO 8601, UTC.
    public let createdAt: String
    /// Whether the author is a friend I marked verified after comparing
    /// safety numbers (`kith friend verify`), or me.
    public let verified: Bool
    /// Whether its author changed the text since posting it.
    public let edited: Bool
    /// Comments, oldest first.
    public let comments: [FeedComment]
    /// Reactions by emoji, the most frequent first.
    public let reactions: [FeedReaction]
    /// Whether it is a direct message: only its author and `directWith` can read it.
    public let direct: Bool
    /// For a direct message, the other person's local name (mine if a friend wrote it).
    public let directWith: String?
    /// How many people can read it, its author included, when known: a
    /// friend's post shows it once their member list of its epoch arrived.
    public let audienceSize: Int?

    enum CodingKeys: String, CodingKey {
        case id, author, audience, text, verified, edited, comments, reactions, direct
        case createdAt = "created_at"
        case directWith = "direct_with"
        case audienceSize = "audience_size"
    }
}

extension Node {
    /// Posts I can read, newest first. Those returned count as read from
    /// now on (`NodeStatus.unread`).
    /// `direct`: true for direct messages only, false for none of them, nil for all.
    public func feed(limit: Int = 100, direct: Bool? = nil) throws -> [FeedItem] {
        let me = try identity(), myName = try name(), atRest = try atRest, now = Int64(clamping: clock())
        return try db.writer.write { db in
            /// A writer's local name and whether I verified them.
            func name(_ identity: [UInt8]) throws -> (name: String, verified: Bool) {
                if identity == me { return (myName, true) }
                guard let row = try Row.fetchOne(db, sql: "SELECT name, verified_at FROM friend WHERE identity = ?", arguments: [identity.data]) else {
                    return ("unknown (\(Fingerprint.of(identity: identity).prefix(9)))", false)
                }
                return (try atRest.text(row[0], .friendName), (row[1] as Int64?) != nil)
            }
            let rows = try Row.fetchAll(db, sql: """
                SELECT p.id, p.author, p.audience_name, p.text, p.created_at, p.rowid, p.audience, p.epoch, p.direct FROM post p
                WHERE ?2 IS NULL OR p.direct = ?2
                ORDER BY p.created_at DESC, p.rowid DESC LIMIT ?1
                """, arguments: [limit, direct])
            let shown = try db.cachedStatement(sql: "UPDATE post SET shown_at = ? WHERE rowid = ? AND shown_at IS NULL")
            for row in rows { try shown.execute(arguments: [now, row[5] as Int64]) }
            return try rows.map { row in
                let id = [UInt8](row[0] as Data), author = [UInt8](row[1] as Data)
                let (who, verified) = try name(author)
                let created = Date(timeIntervalSince1970: TimeInterval(row[4] as Int64))
                let thread = try self.threadView(author: author, id: id, text: try atRest.text(row[3], .postText), db, name: name)
                let readers = try self.readers(db, author: author, audienceID: [UInt8](row[6] as Data), epoch: UInt32(clamping: row[7] as Int64),
                                               direct: row[8] as Bool, name: name)
                return FeedItem(id: Hex.encode(id), author: who, audience: try atRest.text(row[2], .postAudience), text: thread.text,
                                createdAt: created.formatted(.iso8601), verified: verified, edited: thread.edited,
                                comments: thread.comments, reactions: thread.reactions,
                                direct: row[8] as Bool, directWith: readers.directWith, audienceSize: readers.size)
            }
        }
    }
}
