import Foundation
import Testing

/// A profile as `kith profile show --json` gives it.
struct ShownProfile: Decodable {
    let friend: String?
    let sequence: UInt64
    let name: String?
    let bio: String
}

/// A friend as `kith friend list --json` gives them.
struct ListedFriend: Decodable {
    let name: String
    let profile_name: String?
}

/// Profiles through the binary: three people, one relay; alice's profile
/// reaches both her friends, a newer one replaces it, and nobody's name for
/// her changes.
@Suite(.serialized) struct ProfileTests {
    @Test func aProfileUpdateReachesEveryFriend() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let homes = try people(["alice", "bob", "carol"], in: dir, relayURL: relay.url)
        let (alice, bob, carol) = (homes[0], homes[1], homes[2])
        // bob calls alice "mum"; carol keeps the card's name.
        try kithOK(["friend", "add", "--home", bob, "--as", "mum", try kithOK(["card", "--home", alice])])
        try kithOK(["friend", "add", "--home", alice, try kithOK(["card", "--home", bob])])
        try befriend(alice, carol)
        func sync(_ homes: String...) throws { for home in homes { try kithOK(["sync", "--home", home]) } }
        func profile(_ home: String, _ friend: String) throws -> ShownProfile {
            try JSONDecoder().decode(ShownProfile.self, from: Data(try kithOK(["profile", "show", "--home", home, friend, "--json"]).utf8))
        }
        func friends(_ home: String) throws -> [ListedFriend] {
            try JSONDecoder().decode([ListedFriend].self, from: Data(try kithOK(["friend", "list", "--home", home, "--json"]).utf8))
        }

        let set = try kith(["profile", "set", "--home", alice, "--name", "Alice Smith", "--bio", "-"], stdin: "Gardener.\nGrandmother of three.")
        #expect(set.status == 0 && set.stderr.contains("queued for 2 friends"), "\(set.stderr)")
        try sync(alice, bob, carol)
        for (home, name) in [(bob, "mum"), (carol, "alice")] {
            let shown = try profile(home, name)
            #expect(shown.friend == name && shown.name == "Alice Smith" && shown.bio == "Gardener.\nGrandmother of three." && shown.sequence == 1)
            #expect(try friends(home).first { $0.name == name }?.profile_name == "Alice Smith")
        }
        #expect(try kithOK(["friend", "list", "--home", bob]).hasPrefix("mum (calls themself \"Alice Smith\")  "))
        let text = try kithOK(["profile", "show", "--home", carol, "alice"])
        #expect(text.components(separatedBy: "\n").first == "alice (calls themself \"Alice Smith\")")
        #expect(text.contains("  Gardener.\n  Grandmother of three."))

        // A newer profile replaces it everywhere; bob's name for her stays "mum".
        try kithOK(["profile", "set", "--home", alice, "--name", "Granny Smith"])
        try sync(alice, bob, carol)
        for (home, name) in [(bob, "mum"), (carol, "alice")] {
            let shown = try profile(home, name)
            #expect(shown.sequence == 2 && shown.name == "Granny Smith" && shown.bio == "Gardener.\nGrandmother of three.")
        }
        #expect(try friends(bob).map(\.name) == ["mum"])
        #expect(try kithOK(["friend", "list", "--home", bob]).hasPrefix("mum (calls themself \"Granny Smith\")  "))

        // A name that could act on a terminal is refused before anything is made or sent.
        let bidi = try kith(["profile", "set", "--home", alice, "--name", "Bob\u{202E}"])
        #expect(bidi.status != 0 && bidi.stderr.contains("U+202E"))
        #expect(try JSONDecoder().decode(ShownProfile.self, from: Data(try kithOK(["profile", "show", "--home", alice, "--json"]).utf8)).sequence == 2)
        let avatar = try kith(["profile", "set", "--home", alice, "--avatar", dir + "/none.jpg"])
        #expect(avatar.status != 0 && avatar.stderr.contains("not built yet"))
        let nobody = try kith(["profile", "show", "--home", bob, "carol"])
        #expect(nobody.status != 0 && nobody.stderr.contains("no friend named"))
    }
}
