import Foundation
import Testing

/// A post as `kith feed --json` gives it, with its thread.
struct ThreadedItem: Decodable {
    struct Comment: Decodable { let id: String; let author: String; let text: String; let edited: Bool }
    struct Reaction: Decodable, Equatable { let emoji: String; let count: Int; let by: [String] }
    let id: String
    let text: String
    let edited: Bool
    let comments: [Comment]
    let reactions: [Reaction]
}

func threads(_ home: String) throws -> [ThreadedItem] {
    try feedPosts(home, as: ThreadedItem.self)
}

/// Comments, reactions, edits and deletes through the binary: three people,
/// one relay, the post's author as the hub of its thread.
@Suite(.serialized) struct ConversationTests {
    @Test func aThreadThroughTheBinary() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let homes = try people(["alice", "bob", "carol"], in: dir, relayURL: relay.url)
        let (alice, bob, carol) = (homes[0], homes[1], homes[2])
        // bob and carol are alice's friends, not each other's.
        for friend in [bob, carol] { try befriend(alice, friend) }
        try kithOK(["group", "create", "--home", alice, "family"])
        for member in ["bob", "carol"] { try kithOK(["group", "add", "--home", alice, "family", member]) }
        let post = try kithOK(["post", "--home", alice, "--to", "family", "the baby is here"])
        func sync(_ homes: String...) throws { for home in homes { _ = try kith(["sync", "--home", home]) } }
        try sync(alice, bob, carol)

        // bob's comment goes to alice, whose node passes it on: every member sees it once, as bob's.
        let comment = try kithOK(["comment", "--home", bob, post, "congratulations!"])
        #expect(comment.count == 32)
        try sync(bob, alice, alice, carol, bob, carol)
        for home in [alice, bob, carol] {
            let thread = try #require(try threads(home).first)
            #expect(thread.comments.map(\.text) == ["congratulations!"], "\(home)")
            #expect(thread.comments.first?.id == comment)
        }
        #expect(try threads(alice).first?.comments.first?.author == "bob")
        // carol does not know bob: his comment shows under part of his fingerprint, never another name.
        #expect(try threads(carol).first?.comments.first?.author.hasPrefix("unknown (") == true)

        // Reactions: one per person, changeable and removable.
        try kithOK(["react", "--home", bob, post, "❤️"])
        try kithOK(["react", "--home", bob, post, "👍"])
        try kithOK(["react", "--home", carol, post, "👍"])
        try kithOK(["react", "--home", carol, post, "--remove"])
        try kithOK(["react", "--home", carol, comment, "🎉"])
        // bob edits his comment.
        try kithOK(["edit", "--home", bob, comment, "congratulations to all three of you!"])
        try sync(bob, carol, alice, alice, bob, carol)
        for home in [alice, bob, carol] {
            let thread = try #require(try threads(home).first)
            #expect(thread.reactions.map(\.emoji) == ["🎉", "👍"] && thread.reactions.map(\.count) == [1, 1], "\(home)")
            #expect(thread.comments.map(\.text) == ["congratulations to all three of you!"] && thread.comments.first?.edited == true)
        }
        let shown = try kithOK(["feed", "--home", alice])
        #expect(shown.contains("    ↳ \(comment)  bob  ") && shown.contains("  (edited)"))
        #expect(shown.contains("👍 1 (bob)") && shown.contains("🎉 1 (carol)"))
        #expect(shown.contains("\n    id \(post)\n"), "the feed shows the ids to comment on")

        // Refused before anything is sent: someone else's comment, a bad reaction, an unknown id.
        #expect(try kith(["edit", "--home", carol, comment, "mine now"]).stderr.contains("only your own"))
        #expect(try kith(["react", "--home", carol, post, "👍👍"]).stderr.contains("kith: error: a reaction is one emoji"))
        #expect(try kith(["react", "--home", carol, post, "\u{202E}"]).stderr.contains("format"))
        #expect(try kith(["comment", "--home", carol, String(repeating: "ab", count: 16), "hello?"]).stderr.contains("no post or comment"))
        #expect(try kith(["comment", "--home", carol, "not-an-id", "hello?"]).stderr.contains("is not the id of a post or comment"))

        // carol leaves "family": her node still sends a comment on the old post, and alice's node refuses it.
        try kithOK(["group", "remove", "--home", alice, "family", "carol"])
        try sync(alice, carol)
        try kithOK(["comment", "--home", carol, post, "am I still here?"])
        try sync(carol)
        #expect(try kith(["sync", "--home", alice]).stdout.contains("refused 1"))
        try sync(alice, bob)
        #expect(try threads(alice).first?.comments.map(\.text) == ["congratulations to all three of you!"])
        #expect(try threads(bob).first?.comments.map(\.text) == ["congratulations to all three of you!"])

        // alice deletes the post: bob's node erases it with its thread, and is told what a delete cannot do.
        let deleted = try kith(["delete", "--home", alice, post])
        #expect(deleted.status == 0 && deleted.stderr.contains("deleted the post here") && deleted.stderr.contains("copied elsewhere"))
        #expect(try threads(alice).isEmpty)
        try sync(alice, bob)
        #expect(try threads(bob).isEmpty)
        // Sealed at rest before and erased now (ConversationNodeTests looks for the sealed values themselves).
        for text in ["the baby is here", "congratulations to all three"] {
            #expect(try AtRestCommandTests.files(under: bob, containing: Array(text.utf8)) == [])
        }
        #expect(try kith(["comment", "--home", bob, post, "too late"]).stderr.contains("no post or comment"))
        relay.stop()
    }
}
