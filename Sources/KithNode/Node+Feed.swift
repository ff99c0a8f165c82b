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

    enum CodingKeys: String, CodingKey {
        case id, author, audience, text, verified
        case createdAt = "created_at"
    }
}

extension Node {
    /// Posts I can read, newest first. Those returned count as read from
    /// now on (`NodeStatus.unread`).
    public func feed(limit: Int = 100) throws -> [FeedItem] {
        let me = try identity(), myName = try name(), atRest = try atRest, now = Int64(clamping: clock())
        return try db.writer.write { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT p.id, p.author, f.name, p.audience_name, p.text, p.created_at, f.verified_at, p.rowid FROM post p
                LEFT JOIN friend f ON f.identity = p.author ORDER BY p.created_at DESC, p.rowid DESC LIMIT ?
                """, arguments: [limit])
            let shown = try db.cachedStatement(sql: "UPDATE post SET shown_at = ? WHERE rowid = ? AND shown_at IS NULL")
            for row in rows { try shown.execute(arguments: [now, row[7] as Int64]) }
            return try rows.map { row in
                let author = [UInt8](row[1] as Data)
                let name = try author == me ? myName
                    : (row[2] as Data?).map { try atRest.text($0, .friendName) } ?? "unknown (\(Fingerprint.of(identity: author).prefix(9)))"
                let created = Date(timeIntervalSince1970: TimeInterval(row[5] as Int64))
                return FeedItem(id: Hex.encode([UInt8](row[0] as Data)), author: name, audience: try atRest.text(row[3], .postAudience),
                                text: try atRest.text(row[4], .postText),
                                createdAt: created.formatted(.iso8601), verified: author == me || (row[6] as Int64?) != nil)
            }
        }
    }
}
