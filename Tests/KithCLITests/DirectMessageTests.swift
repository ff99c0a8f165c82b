import Foundation
import Testing

/// A message as `kith chat --json` gives it.
struct ChatLine: Decodable, Equatable {
    let id: String
    let author: String
    let outgoing: Bool
    let text: String
    let created_at: String
    let received_at: String
    let misdated: Bool
    let unread: Bool
    let edited: Bool
}

/// Who can read a post, as `kith feed --json` gives it.
struct FeedReaders: Decodable {
    let id: String
    let text: String
    let direct: Bool
    let direct_with: String?
    let audience_size: Int?
}

/// An audience as `kith group show --json` gives it.
struct GroupShown: Decodable {
    struct Person: Decodable { let name: String; let fingerprint: String; let verified: Bool; let friend: Bool; let you: Bool }
    let name: String
    let owner: Person
    let epoch: Int
    let members_shared: Bool
    let members_complete: Bool
    let members: [Person]
}

/// Direct messages and who reads what, through the binary: three people on one relay.
@Suite(.serialized) struct DirectMessageTests {
    @Test func directMessagesAndWhoReadsWhat() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let homes = try people(["alice", "bob", "carol"], in: dir, relayURL: relay.url)
        let (alice, bob, carol) = (homes[0], homes[1], homes[2])
        // bob and carol are alice's friends, not each other's.
        for friend in [bob, carol] { try befriend(alice, friend) }
        func sync(_ homes: String...) throws { for home in homes { _ = try kith(["sync", "--home", home]) } }
        func chat(_ home: String, _ friend: String) throws -> [ChatLine] {
            try JSONDecoder().decode([ChatLine].self, from: Data(try kithOK(["chat", "--home", home, friend, "--json"]).utf8))
        }
        func readers(_ home: String, _ flags: [String] = []) throws -> [FeedReaders] {
            try feedPosts(home, flags, as: FeedReaders.self)
        }
        func show(_ home: String, _ args: [String]) throws -> GroupShown {
            try JSONDecoder().decode(GroupShown.self, from: Data(try kithOK(["group", "show", "--home", home, "--json"] + args).utf8))
        }

        // The choice of sharing the member list is said at creation.
        let created = try kith(["group", "create", "--home", alice, "family"])
        #expect(created.status == 0 && created.stderr.contains("members can see who else is in it: yes (change with `kith group share-members family no`)"))
        for member in ["bob", "carol"] { try kithOK(["group", "add", "--home", alice, "family", member]) }
        let familyPost = try kithOK(["post", "--home", alice, "--to", "family", "dinner on sunday"])

        // alice writes to bob; bob answers through his own direct audience.
        let first = try kithOK(["dm", "--home", alice, "bob", "are you coming?"])
        #expect(first.count == 32)
        try sync(alice, bob, carol)
        try kithOK(["dm", "--home", bob, "alice", "yes, with cake"])
        try sync(bob, alice)

        // Both directions, oldest first; an unread mark until shown once.
        let bobSees = try kith(["chat", "--home", bob, "alice"])
        #expect(bobSees.status == 0)
        let lines = bobSees.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4 && lines[0].hasPrefix("alice  ") && lines[0].hasSuffix("  (new)") && lines[1] == "    are you coming?")
        #expect(lines[2].hasPrefix("you  ") && !lines[2].contains("(new)") && lines[3] == "    yes, with cake")
        #expect(try chat(bob, "alice").map(\.unread) == [false, false])
        let aliceSees = try chat(alice, "bob")
        #expect(aliceSees.map(\.text) == ["are you coming?", "yes, with cake"] && aliceSees.map(\.outgoing) == [true, false])
        #expect(aliceSees.map(\.unread) == [false, true] && aliceSees.first?.id == first)
        #expect(aliceSees.allSatisfy { $0.created_at.hasSuffix("Z") && $0.received_at.hasSuffix("Z") && !$0.misdated })
        #expect(try chat(alice, "bob").map(\.unread) == [false, false])

        // carol, alice's friend too, sees the family post and never the conversation.
        try sync(carol)
        #expect(try readers(carol).map(\.text) == ["dinner on sunday"])
        #expect(try readers(carol, ["--dm"]).isEmpty)
        #expect(try kith(["chat", "--home", carol, "bob"]).stderr.contains("no friend named \"bob\""))
        #expect(try kith(["comment", "--home", carol, first, "me too"]).stderr.contains("no post or comment"))
        // bob cannot comment on it either: a direct message is answered with one.
        #expect(try kith(["comment", "--home", bob, first, "ok"]).stderr.contains("takes no comments or reactions"))
        #expect(try kith(["group", "list", "--home", alice]).stdout == "family: bob, carol\n", "a direct audience is not a group")

        // Every post says who can read it.
        let all = try readers(bob)
        #expect(all.count == 3 && all.filter(\.direct).map(\.direct_with) == ["alice", "alice"])
        #expect(all.first { $0.id == familyPost }?.audience_size == 3)
        #expect(try readers(bob, ["--no-dm"]).map(\.id) == [familyPost])
        #expect(try readers(bob, ["--dm"]).map(\.text) == ["yes, with cake", "are you coming?"])
        let feed = try kithOK(["feed", "--home", alice])
        #expect(feed.contains("alice ✓ → direct: you and bob  ") && feed.contains("bob → direct: you and bob  "))
        #expect(feed.contains("alice ✓ → family (alice's group, 3 people)  "))
        #expect(try kith(["feed", "--home", alice, "--dm", "--no-dm"]).status != 0)

        // group show: the owner sees every member; a member sees the shared list, strangers marked as such.
        let mine = try show(alice, ["family"])
        #expect(mine.owner.you && mine.members_shared && mine.members.map(\.name) == ["bob", "carol"] && mine.members.allSatisfy(\.friend))
        let bobsView = try show(bob, ["family", "--owner", "alice"])
        #expect(bobsView.owner.name == "alice" && bobsView.members_complete && bobsView.epoch == mine.epoch)
        #expect(bobsView.members.map(\.name) == ["bob", "carol"] && bobsView.members.map(\.you) == [true, false])
        #expect(bobsView.members.map(\.friend) == [false, false])
        let bobsPlain = try kithOK(["group", "show", "--home", bob, "family", "--owner", "alice"])
        #expect(bobsPlain.contains("carol (alice's name for them; not your friend)") && bobsPlain.contains("members can see who else is in it: yes"))

        // Sharing off: members see only the owner and themselves.
        #expect(try kith(["group", "share-members", "--home", alice, "family", "no"]).stderr.contains("can see who else is in it: no"))
        try sync(alice, bob)
        let hidden = try show(bob, ["family", "--owner", "alice"])
        #expect(!hidden.members_shared && hidden.members.map(\.name) == ["bob"])
        #expect(try kithOK(["group", "show", "--home", bob, "family", "--owner", "alice"]).contains("the owner keeps the member list hidden"))
        #expect(try show(alice, ["family"]).members_shared == false)
        let quiet = try kith(["group", "create", "--home", alice, "quiet", "--hide-members"])
        #expect(quiet.stderr.contains("members can see who else is in it: no"))
        #expect(try kith(["group", "share-members", "--home", alice, "family", "maybe"]).status != 0)
        #expect(try kith(["dm", "--home", alice, "dave", "hello?"]).stderr.contains("no friend named \"dave\""))
        relay.stop()
    }
}
