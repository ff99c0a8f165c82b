import Foundation
import Testing

/// Reading the feed through the binary: unread state, paging, filters,
/// `kith show`, local times and the JSON shape. Three people on one relay:
/// alice's "family" holds bob and carol, bob's "pals" holds alice and carol.
@Suite(.serialized) struct FeedReadingTests {
    struct Post: Decodable {
        struct Comment: Decodable { let id: String; let author: String; let text: String; let edited: Bool; let misdated: Bool }
        struct Reaction: Decodable, Hashable { let emoji: String; let count: Int; let by: [String] }
        let id: String
        let author: String
        let audience: String
        let text: String
        let created_at: String
        let unread: Bool
        let edited: Bool
        let misdated: Bool
        let comments: [Comment]
        let more_comments: Int
        let reactions: [Reaction]
    }

    struct People {
        let relay: RelayProcess, dir: String, alice: String, bob: String, carol: String
        func sync(_ homes: String...) throws { for home in homes { try kithOK(["sync", "--home", home]) } }
    }

    func withPeople(_ body: (People) throws -> Void) throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        defer { relay.stop() }
        let people = People(relay: relay, dir: dir, alice: dir + "/alice", bob: dir + "/bob", carol: dir + "/carol")
        let all = [("alice", people.alice), ("bob", people.bob), ("carol", people.carol)]
        for (name, home) in all { try kithOK(["init", "--home", home, "--name", name, "--relay", relay.url]) }
        for (_, a) in all { for (_, b) in all where a != b { try kithOK(["friend", "add", "--home", b, try kithOK(["card", "--home", a])]) } }
        try kithOK(["group", "create", "--home", people.alice, "family"])
        for friend in ["bob", "carol"] { try kithOK(["group", "add", "--home", people.alice, "family", friend]) }
        try kithOK(["group", "create", "--home", people.bob, "pals"])
        for friend in ["alice", "carol"] { try kithOK(["group", "add", "--home", people.bob, "pals", friend]) }
        try body(people)
    }

    func page(_ home: String, _ args: [String]) throws -> FeedPage<Post> {
        try JSONDecoder().decode(FeedPage<Post>.self, from: Data(try kithOK(["feed", "--home", home, "--json"] + args).utf8))
    }

    func unread(_ home: String) throws -> Int {
        let status = try JSONSerialization.jsonObject(with: Data(try kithOK(["status", "--home", home, "--json"]).utf8)) as? [String: Any]
        return try #require((status?["node"] as? [String: Any])?["unread"] as? Int)
    }

    /// The command a "the next page:" note gives, as arguments to `kith`.
    func nextPage(_ stderr: String) throws -> [String] {
        let line = try #require(stderr.split(separator: "\n").first { $0.contains("the next page: ") })
        let command = try #require(line.components(separatedBy: "the next page: ").last).split(separator: " ").map(String.init)
        #expect(command.first == "kith", "\(line)")
        return Array(command.dropFirst())
    }

    func expectError(_ r: Output, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status != 0 && r.stdout.isEmpty, sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("kith: error: ") && r.stderr.contains(message), "\(r.stderr)", sourceLocation: sourceLocation)
    }

    @Test func unreadPagingAndFilters() throws {
        try withPeople { p in
            for i in 1...5 { try kithOK(["post", "--home", p.alice, "--to", "family", "family \(i)"]) }
            for i in 1...2 { try kithOK(["post", "--home", p.bob, "--to", "pals", "pals \(i)"]) }
            try p.sync(p.alice, p.bob, p.carol)

            // Unread: seven new posts, shown three at a time; what is shown becomes read.
            #expect(try unread(p.carol) == 7)
            let first = try kith(["feed", "--home", p.carol, "--unread", "--limit", "3"])
            #expect(first.status == 0 && first.stdout.components(separatedBy: "  • new\n").count == 4, "\(first.stdout)")
            #expect(first.stderr.contains("kith: 4 more posts; the next page: kith feed --home \(p.carol) --before "), "\(first.stderr)")
            #expect(try unread(p.carol) == 4)
            let second = try kith(try nextPage(first.stderr))
            #expect(second.status == 0 && second.stdout.components(separatedBy: "  • new\n").count == 4)
            #expect(second.stderr.contains("kith: 1 more post; the next page: "), "\(second.stderr)")
            let last = try page(p.carol, ["--unread"])
            #expect(last.posts.count == 1 && last.posts.allSatisfy(\.unread) && last.more == 0 && last.next_before == nil)
            #expect(try unread(p.carol) == 0)
            let none = try kith(["feed", "--home", p.carol, "--unread"])
            #expect(none.status == 0 && none.stdout.isEmpty && none.stderr == "kith: no unread posts\n")
            #expect(try page(p.carol, ["--unread"]).posts.isEmpty)
            #expect(try page(p.carol, []).posts.allSatisfy { !$0.unread }, "read once shown")

            // Marking read without reading: all of them, or those the filters select.
            try kithOK(["post", "--home", p.alice, "--to", "family", "family 6"])
            try p.sync(p.alice, p.carol)
            #expect(try unread(p.carol) == 1)
            let marked = try kith(["feed", "--home", p.carol, "--mark-read"])
            #expect(marked.status == 0 && marked.stdout.isEmpty && marked.stderr == "kith: marked 1 post read\n")
            #expect(try unread(p.carol) == 0)
            try kithOK(["post", "--home", p.bob, "--to", "pals", "pals 3"])
            try kithOK(["post", "--home", p.alice, "--to", "family", "family 7"])
            try p.sync(p.alice, p.bob, p.carol)
            #expect(try kithOK(["feed", "--home", p.carol, "--mark-read", "--author", "bob", "--json"]).contains("\"marked\" : 1"))
            #expect(try page(p.carol, ["--unread"]).posts.map(\.text) == ["family 7"])

            // Paging: ten posts, four at a time, by the exact command each note gives.
            let all = try page(p.carol, ["--all"])
            #expect(all.posts.count == 10 && all.more == 0 && all.next_before == nil)
            let top = try page(p.carol, ["--limit", "4"])
            #expect(top.posts.map(\.id) == all.posts.prefix(4).map(\.id) && top.more == 6 && top.next_before == all.posts[3].id)
            let one = try kith(["feed", "--home", p.carol, "--limit", "4"])
            #expect(one.stderr == "kith: 6 more posts; the next page: kith feed --home \(p.carol) --before \(all.posts[3].id) --limit 4\n")
            let two = try kith(try nextPage(one.stderr))
            #expect(two.stdout.components(separatedBy: "\n    id ").dropFirst().map { String($0.prefix(32)) } == all.posts[4..<8].map(\.id))
            #expect(two.stderr.contains("kith: 2 more posts; the next page: "))
            let three = try kith(try nextPage(two.stderr))
            #expect(three.stdout.components(separatedBy: "\n    id ").dropFirst().map { String($0.prefix(32)) } == all.posts[8...].map(\.id))
            #expect(three.status == 0 && three.stderr.isEmpty, "no note on the last page")
            // A prefix of the id does as well as the id; a time pages by the order's times.
            #expect(try page(p.carol, ["--limit", "4", "--before", String(all.posts[3].id.prefix(8))]).posts.map(\.id)
                    == all.posts[4..<8].map(\.id))
            #expect(try page(p.carol, ["--before", "2999-01-01"]).posts.count == 10)
            #expect(try page(p.carol, ["--before", "2000-01-01T00:00Z"]).posts.isEmpty)
            #expect(try page(p.carol, ["--before", "2999-01-01T00:00+05:30"]).posts.count == 10)
            #expect(try kith(["feed", "--home", p.carol, "--before", "2000-01-01"]).stderr == "kith: no posts match\n")

            // Filters: by author (a friend, or me), by audience, with paging that keeps them.
            try p.sync(p.alice)
            #expect(try page(p.carol, ["--author", "bob"]).posts.map(\.text) == ["pals 3", "pals 2", "pals 1"])
            #expect(try page(p.carol, ["--audience", "family"]).posts.map(\.text).sorted() == (1...7).map { "family \($0)" })
            #expect(try page(p.alice, ["--author", "me"]).posts.count == 7)
            #expect(try page(p.alice, ["--author", "bob", "--audience", "pals"]).posts.count == 3)
            #expect(try page(p.alice, ["--author", "me", "--audience", "pals"]).posts.isEmpty)
            let filtered = try kith(["feed", "--home", p.carol, "--author", "alice", "--audience", "family", "--limit", "5"])
            #expect(filtered.stderr.contains("--before ") && filtered.stderr.hasSuffix(" --limit 5 --author alice --audience family\n"),
                    "\(filtered.stderr)")
            #expect(try kith(try nextPage(filtered.stderr)).stdout.components(separatedBy: "\n    id ").count == 3)

            // Bad input: a clear error, and nothing marked read.
            try kithOK(["post", "--home", p.alice, "--to", "family", "family 8"])
            try p.sync(p.alice, p.carol)
            expectError(try kith(["feed", "--home", p.carol, "--author", "nobody"]), "no friend named \"nobody\"")
            expectError(try kith(["feed", "--home", p.carol, "--audience", "nobody"]), "no audience named \"nobody\"")
            expectError(try kith(["feed", "--home", p.carol, "--before", "yesterday"]), "--before takes a post id")
            expectError(try kith(["feed", "--home", p.carol, "--before", "2026-02-30"]), "not a date and time that exists")
            expectError(try kith(["feed", "--home", p.carol, "--before", "2026-11-26T10:41+99:00"]), "\"+99:00\" is not a time zone offset")
            expectError(try kith(["feed", "--home", p.carol, "--before", "2026-11-26T25:00"]), "not a date and time that exists")
            expectError(try kith(["feed", "--home", p.carol, "--before", "0123456789abcdef"]), "no post 0123456789abcdef in your feed")
            expectError(try kith(["feed", "--home", p.carol, "--before", "0123456"]), "--before takes a post id")
            expectError(try kith(["feed", "--home", p.carol, "--all", "--limit", "3"]), "either --limit or --all")
            expectError(try kith(["feed", "--home", p.carol, "--mark-read", "--limit", "3"]), "--mark-read")
            expectError(try kith(["feed", "--home", p.carol, "--unread", "--author", "nobody"]), "no friend named")
            #expect(try unread(p.carol) == 1)
            #expect(try page(p.carol, ["--limit", String(Int.max)]).posts.count == 11, "no limit is too large")
        }
    }

    @Test func showWithCommentsReactionsTimesAndJSON() throws {
        try withPeople { p in
            let post = try kithOK(["post", "--home", p.alice, "--to", "family", "the baby is here"])
            try p.sync(p.alice, p.bob, p.carol)
            let bobs = try kithOK(["comment", "--home", p.bob, post, "congratulations!"])
            try kithOK(["react", "--home", p.bob, post, "❤️"])
            try kithOK(["react", "--home", p.carol, post, "👍"])
            for text in ["welcome!", "what is her name?", "so small"] { try kithOK(["comment", "--home", p.carol, post, text]) }
            try kithOK(["edit", "--home", p.bob, bobs, "congratulations to you both!"])
            try kithOK(["edit", "--home", p.alice, post, "the baby is here: Ada"])
            // Both commenters sync before alice's node, the hub, passes it all on.
            try p.sync(p.bob, p.carol, p.alice, p.alice, p.bob, p.carol)

            #expect(try unread(p.carol) == 1)
            let shown = try JSONDecoder().decode(Post.self, from: Data(try kithOK(["show", "--home", p.carol, String(post.prefix(8)), "--json"]).utf8))
            #expect(shown.id == post && shown.text == "the baby is here: Ada" && shown.edited && shown.unread)
            #expect(shown.author == "alice" && shown.audience == "family" && !shown.misdated)
            #expect(Set(shown.comments.map(\.text)) == ["congratulations to you both!", "welcome!", "what is her name?", "so small"])
            #expect(shown.comments.map(\.text).filter { $0 != "congratulations to you both!" } == ["welcome!", "what is her name?", "so small"])
            #expect(shown.comments.first { $0.id == bobs }?.edited == true && shown.comments.filter(\.edited).count == 1)
            #expect(shown.comments.map(\.author).sorted() == ["bob", "carol", "carol", "carol"] && shown.more_comments == 0)
            #expect(Set(shown.reactions) == [.init(emoji: "❤️", count: 1, by: ["bob"]), .init(emoji: "👍", count: 1, by: ["carol"])])
            #expect(try unread(p.carol) == 0, "showing a post marks it read")
            #expect(try JSONDecoder().decode(Post.self, from: Data(try kithOK(["show", "--home", p.carol, post, "--json"]).utf8)).unread == false)

            // Plain: everything, in the local time zone (TZ honoured); the feed shows the newest three comments.
            let utc = try kithOK(["show", "--home", p.bob, post], env: ["TZ": "UTC"])
            let kolkata = try kithOK(["show", "--home", p.bob, post], env: ["TZ": "Asia/Kolkata"])
            let created = try Date(shown.created_at, strategy: .iso8601)
            func local(_ zone: String) throws -> String {
                let formatter = DateFormatter()
                formatter.locale = Locale(identifier: "en_US_POSIX")
                formatter.timeZone = TimeZone(identifier: zone)
                formatter.dateFormat = "yyyy-MM-dd HH:mm"
                return formatter.string(from: created)
            }
            #expect(utc.hasPrefix("alice → family (alice's group, 3 people)  \(try local("UTC"))  • new\n    id \(post)\n    the baby is here: Ada\n    (edited)\n"), "\(utc)")
            #expect(kolkata.hasPrefix("alice → family (alice's group, 3 people)  \(try local("Asia/Kolkata"))\n"), "\(kolkata)")
            for line in ["❤️ 1 (bob)", "👍 1 (carol)", "    ↳ \(bobs)  bob ✓  ", "  (edited)\n        congratulations to you both!", "        so small"] {
                #expect(utc.contains(line), "\(line)")
            }
            #expect(!utc.contains("earlier comment"))
            let feed = try kithOK(["feed", "--home", p.alice])
            #expect(feed.contains("    ↳ 1 earlier comment: kith show \(post)\n"), "\(feed)")
            #expect(feed.components(separatedBy: "\n    ↳ ").count == 5)

            // The JSON shape, key for key: {"posts", "more", "next_before"}; a post; a comment; a reaction.
            try kithOK(["post", "--home", p.alice, "--to", "family", "a second post"])
            let object = try #require(try JSONSerialization.jsonObject(with: Data(try kithOK(["feed", "--home", p.alice, "--json", "--limit", "1"]).utf8))
                                      as? [String: Any])
            let newest = try #require((object["posts"] as? [[String: Any]])?.first)
            #expect(Set(object.keys) == ["posts", "more", "next_before"] && object["more"] as? Int == 1)
            #expect(newest["text"] as? String == "a second post" && object["next_before"] as? String == newest["id"] as? String)
            let full = try #require(try JSONSerialization.jsonObject(with: Data(try kithOK(["show", "--home", p.alice, post, "--json"]).utf8))
                                    as? [String: Any])
            #expect(Set(full.keys) == ["id", "author", "audience", "text", "created_at", "received_at", "misdated", "verified", "edited",
                                       "unread", "comments", "more_comments", "reactions", "direct", "direct_with", "audience_size", "attachments"])
            let comment = try #require((full["comments"] as? [[String: Any]])?.first)
            #expect(Set(comment.keys) == ["id", "author", "text", "created_at", "received_at", "misdated", "edited", "verified", "attachments"])
            #expect((comment["created_at"] as? String)?.hasSuffix("Z") == true && (full["received_at"] as? String)?.hasSuffix("Z") == true)
            #expect(Set(try #require((full["reactions"] as? [[String: Any]])?.first).keys) == ["emoji", "count", "by"])

            // Bad input to show: a clear error.
            expectError(try kith(["show", "--home", p.carol, "not-an-id"]), "\"not-an-id\" is not a post id")
            expectError(try kith(["show", "--home", p.carol, String(post.prefix(7))]), "is not a post id")
            expectError(try kith(["show", "--home", p.carol, String(repeating: "0", count: 32)]), "no post 000")
            expectError(try kith(["show", "--home", p.carol, bobs]), "no post \(bobs)")
        }
    }
}
