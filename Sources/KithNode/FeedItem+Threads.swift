import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// A comment as shown in the feed, under its post.
public struct FeedComment: Codable, Sendable, Equatable {
    public let id: String
    /// The writer's local name (a friend's name, or mine; else part of their fingerprint).
    public let author: String
    public let text: String
    /// ISO 8601, UTC.
    public let createdAt: String
    public let edited: Bool
    public let verified: Bool

    enum CodingKeys: String, CodingKey {
        case id, author, text, edited, verified
        case createdAt = "created_at"
    }
}

/// One emoji's reactions to a post: how many, and who.
public struct FeedReaction: Codable, Sendable, Equatable {
    public let emoji: String
    public let count: Int
    /// Who reacted so, by local name, sorted.
    public let by: [String]
}

extension Node {
    /// A post's thread as the feed shows it: its text (the newest edit's,
    /// which replaced the stored text), whether it was edited, its comments oldest first, its reactions.
    struct ThreadView {
        var text: String
        var edited: Bool
        var comments: [FeedComment]
        var reactions: [FeedReaction]
    }

    func threadView(author: [UInt8], id: [UInt8], text: String, _ db: Database,
                    name: (_ identity: [UInt8]) throws -> (name: String, verified: Bool)) throws -> ThreadView {
        let atRest = try atRest
        // An edit replaced the item's stored text; its change row says that it was edited.
        func edited(_ writer: [UInt8], _ item: [UInt8]) throws -> Bool {
            try Bool.fetchOne(db, sql: """
                SELECT 1 FROM item_change WHERE writer = ? AND id = ? AND post_author = ? AND post_id = ? AND deleted = 0
                """, arguments: [writer.data, item.data, author.data, id.data]) == true
        }
        let postEdited = try edited(author, id)
        let comments = try Row.fetchAll(db, sql: """
            SELECT writer, id, text, created_at FROM comment WHERE post_author = ? AND post_id = ? ORDER BY created_at, rowid
            """, arguments: [author.data, id.data]).map { row in
            let writer = [UInt8](row[0] as Data), commentID = [UInt8](row[1] as Data)
            let (who, verified) = try name(writer)
            return FeedComment(id: Hex.encode(commentID), author: who, text: try atRest.text(row[2], .commentText),
                               createdAt: Date(timeIntervalSince1970: TimeInterval(row[3] as Int64)).formatted(.iso8601),
                               edited: try edited(writer, commentID), verified: verified)
        }
        var byEmoji: [String: [String]] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT writer, emoji FROM reaction WHERE post_author = ? AND post_id = ? AND emoji IS NOT NULL
            """, arguments: [author.data, id.data]) {
            byEmoji[try atRest.text(row[1], .reaction), default: []].append(try name([UInt8](row[0] as Data)).name)
        }
        let reactions = byEmoji.map { FeedReaction(emoji: $0.key, count: $0.value.count, by: $0.value.sorted()) }
            .sorted { ($0.count, $1.emoji) > ($1.count, $0.emoji) }
        return ThreadView(text: text, edited: postEdited, comments: comments, reactions: reactions)
    }
}
