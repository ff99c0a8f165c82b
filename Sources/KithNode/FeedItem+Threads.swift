import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// A post as shown in the feed, with its thread.
public struct FeedItem: Codable, Sendable, Equatable {
    public let id: String
    /// The author's local name (a friend's name, or mine).
    public let author: String
    /// The audience's name as its owner named it.
    public let audience: String
    public let text: String
    /// The date its author's node gave it (signed), ISO 8601, UTC.
    public let createdAt: String
    /// When my node received it, ISO 8601, UTC.
    public let receivedAt: String
    /// Whether the claimed date is further from its arrival than clocks
    /// and delivery explain (more than `Node.clockTolerance` after it, or
    /// more than 30 days before it): the post is then ordered as if dated
    /// within those bounds.
    public let misdated: Bool
    /// Whether the author is a friend I marked verified after comparing
    /// safety numbers (`kith friend verify`), or me.
    public let verified: Bool
    /// Whether its author changed the text since posting it.
    public let edited: Bool
    /// Whether it was unread before this answer: a post of someone else's not shown yet.
    public let unread: Bool
    /// Comments, oldest first: in the feed the newest `Node.commentsInFeed`, in `show` all.
    public let comments: [FeedComment]
    /// How many older comments `comments` leaves out.
    public let moreComments: Int
    /// Reactions by emoji, the most frequent first.
    public let reactions: [FeedReaction]
    /// Whether it is a direct message: only its author and `directWith` can read it.
    public let direct: Bool
    /// For a direct message, the other person's local name. JSON: null otherwise.
    public let directWith: String?
    /// How many people can read it, its author included, when known: a
    /// friend's post shows it once their member list of its epoch arrived.
    /// JSON: null when not known.
    public let audienceSize: Int?
    /// Photos and files, in order (`kith photo get POST N` saves number N, from 1).
    public let attachments: [FeedAttachment]

    enum CodingKeys: String, CodingKey {
        case id, author, audience, text, misdated, verified, edited, unread, comments, reactions, direct, attachments
        case createdAt = "created_at"
        case receivedAt = "received_at"
        case moreComments = "more_comments"
        case directWith = "direct_with"
        case audienceSize = "audience_size"
    }
}

extension FeedItem {
    /// Every key always, `null` for what is absent, so the JSON's keys do not change from post to post.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(author, forKey: .author)
        try c.encode(audience, forKey: .audience)
        try c.encode(text, forKey: .text)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(receivedAt, forKey: .receivedAt)
        try c.encode(misdated, forKey: .misdated)
        try c.encode(verified, forKey: .verified)
        try c.encode(edited, forKey: .edited)
        try c.encode(unread, forKey: .unread)
        try c.encode(comments, forKey: .comments)
        try c.encode(moreComments, forKey: .moreComments)
        try c.encode(reactions, forKey: .reactions)
        try c.encode(direct, forKey: .direct)
        try c.encode(directWith, forKey: .directWith)
        try c.encode(audienceSize, forKey: .audienceSize)
        try c.encode(attachments, forKey: .attachments)
    }
}

/// A comment as shown in the feed, under its post.
public struct FeedComment: Codable, Sendable, Equatable {
    public let id: String
    /// The writer's local name (a friend's name, or mine; else part of their fingerprint).
    public let author: String
    public let text: String
    /// ISO 8601, UTC, as for a post.
    public let createdAt: String
    public let receivedAt: String
    public let misdated: Bool
    public let edited: Bool
    public let verified: Bool
    /// Photos and files, in order (`kith photo get COMMENT N`).
    public let attachments: [FeedAttachment]

    enum CodingKeys: String, CodingKey {
        case id, author, text, misdated, edited, verified, attachments
        case createdAt = "created_at"
        case receivedAt = "received_at"
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
    /// The columns of `post p` that `feedItems` reads.
    static let itemColumns = """
        p.id, p.author, p.audience_name, p.audience, p.epoch, p.direct, p.text, p.created_at, p.received_at, p.sort_at, p.rowid AS rowid,
        p.shown_at IS NULL AS unread,
        EXISTS (SELECT 1 FROM item_change e WHERE e.writer = p.author AND e.id = p.id AND e.post_author = p.author AND e.post_id = p.id
                AND e.deleted = 0) AS edited
        """

    /// The posts of these rows (`itemColumns`) with their threads, each
    /// with at most `comments` comments (the newest; nil: all). They count
    /// as read from now on when `markShown`.
    func feedItems(_ rows: [Row], _ db: Database, me: [UInt8], now: Int64, comments: Int?, markShown: Bool = true) throws -> [FeedItem] {
        let atRest = try atRest, myName = try name()
        var names: [[UInt8]: (name: String, verified: Bool)] = [:]
        /// A writer's local name and whether I verified them.
        func person(_ identity: [UInt8]) throws -> (name: String, verified: Bool) {
            if identity == me { return (myName, true) }
            if let known = names[identity] { return known }
            var found = ("unknown (\(Fingerprint.of(identity: identity).prefix(9)))", false)
            if let row = try Row.fetchOne(db, sql: "SELECT name, verified_at FROM friend WHERE identity = ?", arguments: [identity.data]) {
                found = (try atRest.text(row[0], .friendName), (row[1] as Int64?) != nil)
            }
            names[identity] = found
            return found
        }
        var audiences: [[UInt8]: (directWith: String?, size: Int?)] = [:]
        let shown = try db.cachedStatement(sql: "UPDATE post SET shown_at = ? WHERE rowid = ? AND shown_at IS NULL")
        return try rows.map { row in
            if markShown { try shown.execute(arguments: [now, row["rowid"] as Int64]) }
            let id = [UInt8](row["id"] as Data), author = [UInt8](row["author"] as Data)
            let (who, verified) = try person(author)
            let thread = try threadView(author: author, id: id, comments: comments, db, name: person)
            let dates = Dates(row)
            let direct: Bool = row["direct"], audienceID = [UInt8](row["audience"] as Data), epoch = UInt32(clamping: row["epoch"] as Int64)
            // Once per audience epoch in a page: a member list is opened and checked to be counted.
            let epochKey = author + audienceID + withUnsafeBytes(of: epoch.bigEndian, Array.init)
            let readers = try audiences[epochKey] ?? self.readers(db, author: author, audienceID: audienceID, epoch: epoch, direct: direct, name: person)
            audiences[epochKey] = readers
            return FeedItem(id: Hex.encode(id), author: who, audience: try atRest.text(row["audience_name"], .postAudience),
                            text: try atRest.text(row["text"], .postText), createdAt: dates.created, receivedAt: dates.received,
                            misdated: dates.misdated, verified: verified, edited: row["edited"], unread: row["unread"] && author != me,
                            comments: thread.comments, moreComments: thread.moreComments, reactions: thread.reactions,
                            direct: direct, directWith: readers.directWith, audienceSize: readers.size,
                            attachments: try Self.feedAttachments(db, atRest: atRest, postAuthor: author, postID: id, writer: author, itemID: id))
        }
    }

    /// A post's or comment's dates as shown, from its `created_at`,
    /// `received_at` and `sort_at` columns.
    struct Dates {
        let created: String, received: String, misdated: Bool

        init(_ row: Row) {
            let created: Int64 = row["created_at"], sortAt: Int64 = row["sort_at"]
            self.created = Node.iso8601(created)
            received = Node.iso8601(row["received_at"] as Int64)
            misdated = created < sortAt || created > sortAt + Node.clockTolerance
        }
    }

    /// Unix seconds as ISO 8601 UTC, for JSON (a time past the year 9999 as its last second).
    static func iso8601(_ seconds: Int64) -> String {
        Date(timeIntervalSince1970: TimeInterval(min(seconds, 253_402_300_799))).formatted(.iso8601)
    }

    static func iso8601(_ seconds: UInt64) -> String { iso8601(Int64(clamping: seconds)) }

    /// A post's thread as the feed shows it: its comments oldest first
    /// (the newest `comments` of them; nil: all), how many it leaves out, its reactions.
    struct ThreadView {
        var comments: [FeedComment]
        var moreComments: Int
        var reactions: [FeedReaction]
    }

    func threadView(author: [UInt8], id: [UInt8], comments limit: Int?, _ db: Database,
                    name: (_ identity: [UInt8]) throws -> (name: String, verified: Bool)) throws -> ThreadView {
        let atRest = try atRest
        // An edit replaced the item's stored text; its change row says that it was edited.
        let rows = try Row.fetchAll(db, sql: """
            SELECT c.writer, c.id, c.text, c.created_at, c.received_at, c.sort_at,
                EXISTS (SELECT 1 FROM item_change e WHERE e.writer = c.writer AND e.id = c.id AND e.post_author = c.post_author
                        AND e.post_id = c.post_id AND e.deleted = 0) AS edited
            FROM comment c WHERE c.post_author = ? AND c.post_id = ? ORDER BY c.sort_at DESC, c.rowid DESC LIMIT ?
            """, arguments: [author.data, id.data, limit ?? -1])
        let comments = try rows.reversed().map { row in
            let writer = [UInt8](row["writer"] as Data), commentID = [UInt8](row["id"] as Data)
            let (who, verified) = try name(writer)
            let dates = Dates(row)
            return FeedComment(id: Hex.encode(commentID), author: who, text: try atRest.text(row["text"], .commentText),
                               createdAt: dates.created, receivedAt: dates.received, misdated: dates.misdated,
                               edited: row["edited"], verified: verified,
                               attachments: try Self.feedAttachments(db, atRest: atRest, postAuthor: author, postID: id, writer: writer, itemID: commentID))
        }
        var byEmoji: [String: [String]] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT writer, emoji FROM reaction WHERE post_author = ? AND post_id = ? AND emoji IS NOT NULL
            """, arguments: [author.data, id.data]) {
            byEmoji[try atRest.text(row[1], .reaction), default: []].append(try name([UInt8](row[0] as Data)).name)
        }
        let reactions = byEmoji.map { FeedReaction(emoji: $0.key, count: $0.value.count, by: $0.value.sorted()) }
            .sorted { ($0.count, $1.emoji) > ($1.count, $0.emoji) }
        var more = 0
        if let limit, rows.count == limit {
            more = (try Int.fetchOne(db, sql: "SELECT count(*) FROM comment WHERE post_author = ? AND post_id = ?",
                                     arguments: [author.data, id.data]) ?? 0) - rows.count
        }
        return ThreadView(comments: comments, moreComments: more, reactions: reactions)
    }

    /// A post by its id or a unique prefix of it (8 to 32 hex digits), of
    /// `author` if given: its row and its place in the feed's order.
    func post(prefix text: String, _ db: Database, author: Data? = nil) throws -> (rowid: Int64, sortAt: Int64) {
        let hex = text.lowercased(), length = Post.idLength * 2
        guard (8...length).contains(hex.utf8.count), hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
              let low = Hex.decode(hex + String(repeating: "0", count: length - hex.utf8.count)),
              let high = Hex.decode(hex + String(repeating: "f", count: length - hex.utf8.count)) else {
            throw NodeError("\"\(text.prefix(64))\" is not a post id", hint: "give a post's id or its first 8 or more hex digits, as `kith feed` shows it")
        }
        let rows = try Row.fetchAll(db, sql: """
            SELECT rowid, sort_at FROM post WHERE id BETWEEN ? AND ? AND (?3 IS NULL OR author = ?3) LIMIT 2
            """, arguments: [low.data, high.data, author])
        guard let row = rows.first else { throw NodeError("no post \(hex) in your feed") }
        guard rows.count == 1 else {
            guard hex.utf8.count < length else { throw NodeError("more than one post has the id \(hex)") }
            throw NodeError("more than one post starts with \(hex)", hint: "give more of its digits")
        }
        return (row[0], row[1])
    }
}
