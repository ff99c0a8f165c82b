import Foundation
import GRDB
import KithCrypto
@testable import KithNode
import KithProtocol
import Testing

/// The feed's order when clocks disagree: a post or comment is placed by
/// its claimed date brought into [arrival − 30 days, arrival], so none
/// dated ahead stays at the top and none dated long ago sinks out of sight.
@Suite struct FeedOrderTests {
    static let day: UInt64 = 86_400

    @Test func postsDatedAheadOrLongAgoAreOrderedByArrival() async throws {
        let clock = TestClock()
        try await withThreeFriends(bobClock: clock) { alice, bob, _, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            _ = try await alice.post(to: "family", text: "an old friend")
            _ = try await alice.sync()
            _ = try await bob.sync()

            // Forty days on, by bob's clock, alice's program sends posts with the dates it likes.
            clock.advance(40 * Self.day)
            let family = try await alice.heldKey(audienceNamed: "family")
            for (text, createdAt) in [("from 1970", UInt64(0)), ("dated tomorrow", clock.now + 20 * 3600),
                                      ("written ten days ago", clock.now - 10 * Self.day)] {
                try await alice.dropRaw(try alice.craftPost(audience: family, text: text, createdAt: createdAt), to: "bob")
            }
            #expect(try await bob.sync().newPosts == 3)
            clock.advance(3600)
            try await alice.dropRaw(try alice.craftPost(audience: family, text: "just now", createdAt: clock.now), to: "bob")
            #expect(try await bob.sync().newPosts == 1)

            // By claimed date, "dated tomorrow" would sit above "just now" and "from 1970" below everything.
            let all = try bob.feed(FeedQuery(limit: nil)).posts
            #expect(all.map(\.text) == ["just now", "dated tomorrow", "written ten days ago", "from 1970", "an old friend"])
            #expect(all.map(\.misdated) == [false, true, false, true, false])
            let old = try #require(all.first { $0.text == "from 1970" })
            #expect(old.createdAt == "1970-01-01T00:00:00Z", "the claimed date is shown as claimed")
            #expect(old.receivedAt == Node.iso8601(Int64(clock.now - 3600)))

            // Paging goes by the same order, by post or by time.
            let first = try bob.feed(FeedQuery(limit: 2))
            #expect(first.posts.map(\.text) == ["just now", "dated tomorrow"] && first.more == 3)
            #expect(first.nextBefore == first.posts.last?.id)
            let second = try bob.feed(FeedQuery(limit: 2, before: .post(try #require(first.nextBefore))))
            #expect(second.posts.map(\.text) == ["written ten days ago", "from 1970"] && second.more == 1)
            let third = try bob.feed(FeedQuery(limit: 2, before: .post(String(try #require(second.nextBefore).prefix(8)))))
            #expect(third.posts.map(\.text) == ["an old friend"] && third.more == 0 && third.nextBefore == nil)
            // "from 1970" counts as arrived 30 days before it did: ten days after "an old friend".
            let byTime = try bob.feed(FeedQuery(before: .time(Int64(clock.now - 3600 - 30 * Self.day + 1))))
            #expect(byTime.posts.map(\.text) == ["from 1970", "an old friend"])
        }
    }

    @Test func commentsDatedAheadOrLongAgoAreOrderedByArrival() async throws {
        try await withThreeFriends { alice, bob, mallory, _ in
            try await alice.createAudience(name: "family")
            for friend in ["bob", "mallory"] { try await alice.addMember(audience: "family", friend: friend) }
            let post = try await alice.post(to: "family", text: "the baby is here").id
            for node in [alice, bob, mallory] { _ = try await node.sync() }
            _ = try await bob.comment(on: post, text: "first comment")
            _ = try await bob.sync()
            _ = try await alice.sync()

            // mallory's program dates one comment in 1970 and one 20 hours ahead; the post's author takes both in.
            let family = try await mallory.heldKey(audienceNamed: "family")
            let me = try mallory.requireKeys().identity
            for (text, createdAt) in [("from 1970", UInt64(0)), ("from tomorrow", Node.now() + 20 * 3600)] {
                let note = try Note(action: .comment, writer: me, owner: family.owner, audienceID: family.audienceID, epoch: family.epoch,
                                    postID: try #require(Hex.decode(post)), targetWriter: me.publicKey, targetID: randomBytes(Note.idLength),
                                    revision: 0, createdAt: createdAt, text: text)
                try await mallory.dropRaw(try note.seal(audience: family).bytes, to: "alice")
            }
            _ = try await alice.sync()
            _ = try await alice.comment(on: post, text: "last comment")

            let thread = try alice.show(post: post)
            #expect(thread.comments.map(\.text) == ["from 1970", "first comment", "from tomorrow", "last comment"])
            #expect(thread.comments.map(\.misdated) == [true, false, true, false])
            #expect(thread.moreComments == 0)
            // The feed shows the newest three and counts the rest.
            let shown = try #require(try alice.feed(FeedQuery()).posts.first)
            #expect(shown.comments.map(\.text) == ["first comment", "from tomorrow", "last comment"] && shown.moreComments == 1)
        }
    }

    @Test func aPostIsFoundByAUniquePrefixOfItsId() async throws {
        try await withThreeFriends { alice, bob, _, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            _ = try await alice.sync()
            let family = try await alice.heldKey(audienceNamed: "family")
            let start: [UInt8] = [0xab, 0xcd, 0xef, 0x01]
            for (fifth, text) in [(UInt8(0x10), "one"), (0x20, "two")] {
                let id = start + [fifth] + randomBytes(Post.idLength - 5)
                try await alice.dropRaw(try alice.craftPost(audience: family, text: text, id: id, createdAt: Node.now()), to: "bob")
            }
            #expect(try await bob.sync().newPosts == 2)
            #expect(try bob.show(post: "ABCDEF0120").text == "two", "hex digits in either case")
            do {
                _ = try bob.show(post: "abcdef01")
                Issue.record("an ambiguous prefix was taken")
            } catch let error as NodeError {
                #expect(error.description == "more than one post starts with abcdef01" && error.hint == "give more of its digits")
            }
            for bad in ["abcdef0", "abcdef01x", "abcdef01" + String(repeating: "0", count: 25), "abcdéf01", "１２３４５６７８"] {
                #expect(throws: NodeError.self, "\(bad)") { try bob.show(post: bad) }
            }
            let unread = try await bob.status().unread
            #expect(unread == 1, "only the post shown counts as read")
        }
    }

    /// A first page, whole or filtered by author or audience, walks an index
    /// in the feed's order and stops at the page's end: no scan of the post
    /// table, no sort of all the posts it selects.
    @Test func aFilteredFirstPageWalksAnIndex() async throws {
        try await withThreeFriends { alice, bob, _, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            for text in ["one", "two", "three"] { _ = try await alice.post(to: "family", text: text) }
            _ = try await alice.sync()
            #expect(try await bob.sync().newPosts == 3)
            let me = try bob.identity()
            for query in [FeedQuery(), FeedQuery(author: "alice"), FeedQuery(audience: "family"), FeedQuery(author: "alice", audience: "family"),
                          FeedQuery(author: FeedQuery.me), FeedQuery(direct: false)] {
                #expect(try bob.feed(query).posts.count == (query.author == FeedQuery.me ? 0 : 3))
                let plan = try await bob.db.writer.read { db in
                    let (condition, arguments) = try bob.feedCondition(query, db, me: me)
                    return try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + Node.pageSQL(condition), arguments: arguments + [21])
                        .map { $0["detail"] as String }
                }
                #expect(plan.contains { $0.contains("USING INDEX post_") }, "\(query): \(plan)")
                // A filter searches its own index: walking the whole feed's index would read every post of others.
                if query.author != nil || query.audience != nil { #expect(plan.contains { $0.hasPrefix("SEARCH p USING INDEX") }, "\(query): \(plan)") }
                #expect(!plan.contains { $0.hasPrefix("SCAN p") && !$0.contains("USING") }, "\(query): \(plan)")
                #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(query): \(plan)")
            }
        }
    }
}
