import Foundation
import Testing

/// `kith friend remove` through the binary: the friend reads nothing new, their
/// token is refused at the relay, and everyone else's still works.
@Suite(.serialized) struct FriendRemovalTests {
    @Test func aRemovedFriendReadsNothingNewAndTheirDropsAreRefused() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let homes = try people(["alice", "bob", "carol"], in: dir, relayURL: relay.url)
        let (alice, bob, carol) = (homes[0], homes[1], homes[2])
        for friend in ["bob", "carol"] {
            try kithOK(["friend", "add", "--home", "\(dir)/\(friend)", try kithOK(["card", "--home", alice, "--for", friend])])
            try kithOK(["friend", "add", "--home", alice, try kithOK(["card", "--home", "\(dir)/\(friend)"])])
        }
        try kithOK(["group", "create", "--home", alice, "family"])
        for friend in ["bob", "carol"] { try kithOK(["group", "add", "--home", alice, "family", friend]) }
        try kithOK(["post", "--home", alice, "--to", "family", "while bob was a friend"])
        try kithOK(["sync", "--home", alice])
        for home in [bob, carol] {
            try kithOK(["group", "create", "--home", home, "mine"])
            try kithOK(["group", "add", "--home", home, "mine", "alice"])
            try kithOK(["sync", "--home", home])
        }

        let removed = try kith(["friend", "remove", "--home", alice, "bob"])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(removed.stderr.contains("removed bob from \"family\": they keep the posts they already have"), "\(removed.stderr)")
        #expect(removed.stderr.contains("bob is no longer your friend: nothing more is sent to them; revoked 1 drop token"))
        #expect(try kithOK(["friend", "list", "--home", alice]).split(separator: "\n").map { $0.split(separator: " ")[0] } == ["carol"])

        // bob's next drop into alice's mailbox is refused; carol's still goes through.
        try kithOK(["post", "--home", bob, "--to", "mine", "from bob, after"])
        let bobSync = try kith(["sync", "--home", bob])
        #expect(bobSync.stderr.contains("refused (no valid drop token for any target mailbox, HTTP 403)"), "\(bobSync.stderr)")
        try kithOK(["post", "--home", carol, "--to", "mine", "from carol, after"])
        #expect(try kithOK(["sync", "--home", carol]).hasPrefix("delivered 1,"))

        try kithOK(["post", "--home", alice, "--to", "family", "after bob left"])
        try kithOK(["sync", "--home", alice])
        for home in [bob, carol] { _ = try kith(["sync", "--home", home]) }
        #expect(try feed(bob).map(\.text) == ["from bob, after", "while bob was a friend"])
        #expect(try feed(carol).map(\.text).contains("after bob left"))
        #expect(!(try feed(alice).map(\.text).contains("from bob, after")))
        #expect(try feed(alice).map(\.text).contains("from carol, after"))

        // Nothing left to do a second time; an unknown name is an error.
        #expect(try kith(["friend", "remove", "--home", alice, "bob"]).stderr.contains("no friend named \"bob\""))
        relay.stop()
    }
}
