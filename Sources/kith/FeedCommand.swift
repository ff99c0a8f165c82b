import ArgumentParser
import Foundation
import KithDaemon
import KithNode

struct FeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed", abstract: "Show the posts you can read, newest first, a page at a time.",
        discussion: """
            Each post shows its author (✓ if verified), who can read it, its date in your time zone, its id, \
            its text, its photos and files ("[photo 1] NAME  SIZE  WxH  (here)": `kith photo get ID 1 --out FILE` saves it), \
            its reactions and its newest \(Node.commentsInFeed) comments (`kith show ID` shows all); \
            "• new" marks a post shown for the first time. Who can read it: "→ family (alice's group, 5 people)" \
            (the count, its author included, is known for your own posts and for a friend's group that shares \
            its member list; `kith group show` tells more), or "→ direct: you and bob" for a direct message. \
            The posts shown (with --json too) count as read \
            from then on: `kith status` counts the others' posts not shown yet as unread, and --unread shows \
            only those. --mark-read marks every post the filters select as read without showing it.

            Posts are ordered by their date, brought into the 30 days before their arrival: a post dated \
            ahead sits where it arrived, and one dated long ago where it would be had it taken 30 days to \
            come; such a post shows "(arrived ...)" after its date. When more posts exist beyond the page, \
            a note on standard error says how many and gives the command for the next page.

            --json prints {"posts": [...], "more": N, "next_before": ID}: "more" counts the posts beyond \
            this page, "next_before" (only when there are some) is the id to pass to --before. Each post is \
            {id, author, audience, text, created_at, received_at, misdated, verified, edited, unread, \
            comments, more_comments, reactions, direct, direct_with, audience_size, attachments}, times in ISO 8601 UTC; each comment {id, author, text, \
            created_at, received_at, misdated, edited, verified, attachments}; each reaction {emoji, count, by}; each attachment \
            {kind ("photo" or "file"), name, media_type, size (bytes), width, height, fetched, thumbnail_fetched, damaged (null or the \
            failure kind)}.
            """)

    @OptionGroup var home: HomeOptions

    @Flag(help: "Print the page as JSON (see below).") var json = false

    @Option(help: "Show at most this many posts (default \(FeedQuery.defaultLimit)).") var limit: Int?

    @Flag(help: "Show every post, in one page.") var all = false

    @Option(help: ArgumentHelp("Show the posts older than this post or time: a post's id (or its first 8 or more hex digits), or a date "
                               + "or time (ISO 8601, e.g. 2026-11-26, 2026-11-26T10:41 or 2026-11-26T10:41:00Z; your time zone when none is given).",
                               valueName: "id-or-time"))
    var before: String?

    @Option(help: "Only the posts of this friend, or yours (me).") var author: String?

    @Option(help: "Only the posts to audiences of this name (yours, or a friend's as the feed shows it).") var audience: String?

    @Flag(help: "Only the posts of others not shown yet.") var unread = false

    @Flag(name: .customLong("dm"), help: "Only direct messages.") var onlyDirect = false

    @Flag(name: .customLong("no-dm"), help: "No direct messages.") var noDirect = false

    @Flag(name: .customLong("mark-read"), help: "Mark every post the filters select as read, without showing them.") var markRead = false

    func validate() throws {
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
        if all, limit != nil { throw ValidationError("give either --limit or --all") }
        if onlyDirect, noDirect { throw ValidationError("give --dm or --no-dm, not both") }
        if markRead, all || limit != nil { throw ValidationError("--mark-read takes every post the filters select: no --limit or --all") }
    }

    func run() async throws {
        let query = FeedQuery(limit: all || markRead ? nil : limit ?? FeedQuery.defaultLimit, before: try before.map(Self.before),
                              author: author, audience: audience, unreadOnly: unread, direct: onlyDirect ? true : noDirect ? false : nil)
        if markRead {
            let marked = try await home.run(MarkReadRequest(query: query))
            if json { return try Console.json(marked) }
            return Console.note("marked \(marked.marked) \(marked.marked == 1 ? "post" : "posts") read")
        }
        let page = try await home.run(FeedRequest(query: query))
        if json { return try Console.json(page) }
        if page.posts.isEmpty {
            Console.note(unread ? "no unread posts" : query == FeedQuery(limit: query.limit) ? "no posts yet" : "no posts match")
        }
        page.posts.forEach(ThreadLines.show)
        if let next = page.nextBefore {
            Console.note("\(page.more) more \(page.more == 1 ? "post" : "posts"); the next page: \(nextPage(before: next))")
        }
    }

    /// This command with `--before` the page's last post, quoted for a shell.
    func nextPage(before id: String) -> String {
        var words = ["kith", "feed"]
        if let dir = home.home { words += ["--home", dir] }
        words += ["--before", id]
        if let limit { words += ["--limit", String(limit)] }
        if let author { words += ["--author", author] }
        if let audience { words += ["--audience", audience] }
        if unread { words.append("--unread") }
        if onlyDirect { words.append("--dm") }
        if noDirect { words.append("--no-dm") }
        return words.map { word in
            word.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_./:=@+,".contains($0)) }) && !word.isEmpty
                ? word : "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
        }.joined(separator: " ")
    }

    /// `--before` as typed: 8 or more hex digits are a post's id (or its
    /// start); else an ISO 8601 date or date and time, in the local time
    /// zone unless it names one.
    static func before(_ text: String) throws -> FeedQuery.Before {
        if text.utf8.count >= 8, text.allSatisfy(\.isHexDigit), text.allSatisfy(\.isASCII) { return .post(text) }
        let pattern = try Regex("^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$")
        guard let match = try pattern.wholeMatch(in: text) else {
            throw ValidationError("--before takes a post id (8 or more hex digits) or a date like 2026-11-26 or 2026-11-26T10:41, not \"\(text.prefix(64))\"")
        }
        func number(_ i: Int) -> Int? { match.output[i].substring.flatMap { Int($0) } }
        var zone = TimeZone.current
        if let offset = match.output[7].substring {
            let digits = offset.compactMap(\.wholeNumberValue)
            let (hours, minutes) = digits.count == 4 ? (digits[0] * 10 + digits[1], digits[2] * 10 + digits[3]) : (0, 0)
            guard minutes < 60, let named = TimeZone(secondsFromGMT: (offset.hasPrefix("-") ? -60 : 60) * (hours * 60 + minutes)) else {
                throw ValidationError("--before: \"\(offset)\" is not a time zone offset")
            }
            zone = named
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let wanted = DateComponents(year: number(1), month: number(2), day: number(3), hour: number(4) ?? 0, minute: number(5) ?? 0,
                                    second: number(6) ?? 0)
        // The calendar rolls 2026-02-30 over to March: only a date that comes back unchanged is one.
        let fields: [Calendar.Component] = [.year, .month, .day, .hour, .minute, .second]
        guard let date = calendar.date(from: wanted),
              fields.allSatisfy({ calendar.component($0, from: date) == wanted.value(for: $0) }) else {
            throw ValidationError("--before: \"\(text.prefix(64))\" is not a date and time that exists")
        }
        return .time(Int64(date.timeIntervalSince1970.rounded(.down)))
    }
}
