import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// Which posts the feed shows: every filter is one field here and one SQL
/// condition in `Node.feedCondition`.
public struct FeedQuery: Codable, Sendable, Equatable {
    /// At most this many posts in a page; nil: all of them.
    public var limit: Int?
    /// Only posts ordered before a post or a time (see `Node.feed`).
    public var before: Before?
    /// Only the posts of this friend (by local name), or mine (`me`).
    public var author: String?
    /// Only the posts to audiences of this name: mine, or a friend's as
    /// its owner named it.
    public var audience: String?
    /// Only posts of others not shown yet.
    public var unreadOnly: Bool
    /// True: direct messages only; false: none of them; nil: all posts.
    public var direct: Bool?
    /// True: the page's posts stay unread (a view refreshed by itself, not looked at yet).
    public var keepUnread: Bool?

    public enum Before: Codable, Sendable, Equatable {
        /// A post's id, or a unique prefix of it (8 to 32 hex digits).
        case post(String)
        /// Unix seconds.
        case time(Int64)
    }

    public static let defaultLimit = 20
    /// The author filter's name for myself.
    public static let me = "me"

    public init(limit: Int? = FeedQuery.defaultLimit, before: Before? = nil, author: String? = nil, audience: String? = nil,
                unreadOnly: Bool = false, direct: Bool? = nil, keepUnread: Bool? = nil) {
        (self.limit, self.before, self.author, self.audience, self.unreadOnly, self.direct) = (limit, before, author, audience, unreadOnly, direct)
        self.keepUnread = keepUnread
    }
}

/// One page of the feed, newest first.
public struct FeedPage: Codable, Sendable, Equatable {
    public let posts: [FeedItem]
    /// How many more (older) posts the query selects beyond this page.
    public let more: Int
    /// The id of the page's last post, to pass as `before` for the next
    /// page; nil when there is no more.
    public let nextBefore: String?

    enum CodingKeys: String, CodingKey {
        case posts, more
        case nextBefore = "next_before"
    }
}

extension Node {
    /// How many of a post's comments the feed shows, the newest; `show` shows all.
    public static let commentsInFeed = 3

    /// How far a post's or comment's claimed date may be after its arrival
    /// before it is marked as misdated (clocks drift by a few minutes).
    public static let clockTolerance: Int64 = 600

    /// Posts I can read, newest first. Those returned count as read from
    /// now on (`NodeStatus.unread`), unless the query says `keepUnread`.
    ///
    /// The order is by each post's effective time (`post.sort_at`, see
    /// NodeDatabase's `v12-feed-order`): the date its author claimed,
    /// brought into [arrival − 30 days, arrival], so that no post dated
    /// ahead can stay at the top and none dated long ago can sink out of
    /// sight. `before` pages by that order: `.post` starts after a post
    /// (its id or a unique prefix), `.time` at posts whose effective time is
    /// before it.
    public func feed(_ query: FeedQuery) throws -> FeedPage {
        if let limit = query.limit, limit <= 0 { throw NodeError("the limit must be positive") }
        let me = try identity(), now = Int64(clamping: clock())
        return try db.writer.write { db in
            let (condition, arguments) = try self.feedCondition(query, db, me: me)
            let rows = try Row.fetchAll(db, sql: Self.pageSQL(condition),
                                        arguments: arguments + [query.limit.map { min($0, Int.max - 1) + 1 } ?? -1])
            let page = query.limit.map { Array(rows.prefix($0)) } ?? rows
            var more = 0
            if rows.count > page.count, let last = page.last {
                more = try Int.fetchOne(db, sql: """
                    SELECT count(*) FROM post p WHERE \(condition) AND (p.sort_at, p.rowid) < (?, ?)
                    """, arguments: arguments + [last["sort_at"] as Int64, last["rowid"] as Int64]) ?? 0
            }
            let items = try self.feedItems(page, db, me: me, now: now, comments: Self.commentsInFeed, markShown: query.keepUnread != true)
            return FeedPage(posts: items, more: more, nextBefore: more > 0 ? items.last?.id : nil)
        }
    }

    /// The feed's first `limit` posts, newest first.
    public func feed(limit: Int = 100) throws -> [FeedItem] { try feed(FeedQuery(limit: limit)).posts }

    /// One post by its id or a unique prefix of it, with all its comments
    /// and reactions. It counts as read from now on.
    public func show(post: String) throws -> FeedItem {
        let me = try identity(), now = Int64(clamping: clock())
        return try db.writer.write { db in
            let found = try self.post(prefix: post, db)
            let rows = try Row.fetchAll(db, sql: "SELECT \(Self.itemColumns) FROM post p WHERE p.rowid = ?", arguments: [found.rowid])
            guard let item = try self.feedItems(rows, db, me: me, now: now, comments: nil).first else {
                throw NodeError("no post \(post.prefix(32)) in your feed")
            }
            return item
        }
    }

    /// Marks every unread post of others that the query selects (all
    /// pages) as read, without showing it. Returns how many.
    public func markRead(_ query: FeedQuery) throws -> Int {
        let me = try identity(), now = Int64(clamping: clock())
        return try db.writer.write { db in
            let (condition, arguments) = try self.feedCondition(query, db, me: me)
            try db.execute(sql: "UPDATE post AS p SET shown_at = ? WHERE p.shown_at IS NULL AND p.author != ? AND \(condition)",
                           arguments: [now, me.data] + arguments)
            return db.changesCount
        }
    }

    /// A page of the feed: the posts `condition` selects, newest first, at
    /// most as many as the last argument (-1: all). With the indexes on
    /// `sort_at` (alone, after the author, after the audience) SQLite walks
    /// the page's posts in order and stops: a first page reads about a
    /// page of rows, however many posts the node holds.
    static func pageSQL(_ condition: String) -> String {
        "SELECT \(itemColumns) FROM post p WHERE \(condition) ORDER BY p.sort_at DESC, p.rowid DESC LIMIT ?"
    }

    /// The SQL condition on `post p` that selects the query's posts (every
    /// page), with its arguments. Names are checked here: an unknown one is an error.
    func feedCondition(_ query: FeedQuery, _ db: Database, me: [UInt8]) throws -> (String, StatementArguments) {
        let atRest = try atRest
        var clauses = ["1"], arguments: StatementArguments = []
        func add(_ clause: String, _ values: [(any DatabaseValueConvertible)?]) {
            clauses.append(clause)
            arguments += StatementArguments(values)
        }
        if query.unreadOnly { add("p.shown_at IS NULL AND p.author != ?", [me.data]) }
        if let direct = query.direct { add("p.direct = ?", [direct]) }
        var author: Data?
        if let name = query.author {
            author = name == FeedQuery.me ? me.data
                : try Data.fetchOne(db, sql: "SELECT identity FROM friend WHERE name_tag = ?", arguments: [atRest.tag(name, .friendName)])
            guard let author else {
                throw NodeError("no friend named \"\(name)\"", hint: "`kith friend list` shows your friends; `\(FeedQuery.me)` stands for you")
            }
            add("p.author = ?", [author])
        }
        if let name = query.audience {
            // Audience names are sealed: the keys I hold (my audiences' and friends') carry them, one row per epoch.
            var audiences = Set<[Data]>()
            for row in try Row.fetchAll(db, sql: "SELECT owner, audience, name FROM audience_key") where try atRest.text(row[2], .keyName) == name {
                audiences.insert([row[0], row[1]])
            }
            guard !audiences.isEmpty else {
                throw NodeError("no audience named \"\(name)\"", hint: "`kith group list` shows yours; the feed shows friends' after the author's name")
            }
            // One audience (the usual case) by equality, so that its index gives the order too.
            if audiences.count == 1 { add("p.audience_owner = ? AND p.audience = ?", audiences.flatMap { $0 }) } else {
                add("(p.audience_owner, p.audience) IN (VALUES \(Array(repeating: "(?, ?)", count: audiences.count).joined(separator: ", ")))",
                    audiences.flatMap { $0 })
            }
        }
        switch query.before {
        case .post(let prefix)?:
            let start = try post(prefix: prefix, db, author: author)
            add("(p.sort_at, p.rowid) < (?, ?)", [start.sortAt, start.rowid])
        case .time(let time)?: add("p.sort_at < ?", [time])
        case nil: break
        }
        return (clauses.joined(separator: " AND "), arguments)
    }
}
