import Foundation
import Testing

/// A friend request as `kith friend requests --json` gives it.
struct FriendRequestItem: Decodable, Equatable {
    let name: String
    let fingerprint: String
    let safetyNumber: String
    let invitation: String
    let receivedAt: String

    enum CodingKeys: String, CodingKey {
        case name, fingerprint, invitation
        case safetyNumber = "safety_number"
        case receivedAt = "received_at"
    }
}

/// An invitation as `kith invite --json` gives it.
struct InvitationItem: Decodable {
    let invitation: String
    let id: String
    let relay: String
    let expiresAt: String

    enum CodingKeys: String, CodingKey {
        case invitation, id, relay
        case expiresAt = "expires_at"
    }
}

/// With no passphrase, only a node whose daemon runs can answer.
func friendRequests(_ home: String, passphrase: String? = "test passphrase") throws -> [FriendRequestItem] {
    try JSONDecoder().decode([FriendRequestItem].self, from: Data(try kithOK(["friend", "requests", "--home", home, "--json"], passphrase: passphrase).utf8))
}

func invite(_ home: String, _ more: [String] = []) throws -> InvitationItem {
    try JSONDecoder().decode(InvitationItem.self, from: Data(try kithOK(["invite", "--home", home, "--json"] + more).utf8))
}

/// One-paste friend invitations through the binary: four people, one relay.
@Suite(.serialized) struct FriendInvitationTests {
    @Test func anInvitationMakesFriendsOnceAndOnlyBeforeItExpires() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let homes = try people(["alice", "bob", "carol", "dave"], in: dir, relayURL: relay.url)
        let (alice, bob, carol, dave) = (homes[0], homes[1], homes[2], homes[3])
        func fingerprint(_ home: String) throws -> String {
            let line = try kithOK(["whoami", "--home", home])
            return String(line[try #require(line.range(of: "  ")).upperBound...])
        }

        let made = try invite(alice)
        #expect(made.invitation.hasPrefix("kith-invite:\(relay.url)#") && made.invitation.count <= 80)
        #expect(made.relay == relay.url && made.id.count == 8)
        #expect(try kithOK(["invite", "--home", alice]).hasPrefix("kith-invite:"), "without --json, the invitation alone on stdout")
        // The relay holds the card sealed: neither the secret nor alice's name is in its files.
        let secret = String(try #require(made.invitation.split(separator: "#").last))
        #expect(try !relayFiles(in: dir + "/relay", contain: secret) && !relayFiles(in: dir + "/relay", contain: "alice"))

        // bob pastes it as a mail quotes it; he sees alice's fingerprint, his own and their safety number.
        let added = try kith(["friend", "add", "--home", bob, "-"], stdin: "On Monday alice wrote:\n> Be my friend on Kith: \(made.invitation).\n> alice\n")
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout == "alice\n  fingerprint \(try fingerprint(alice))\n")
        #expect(added.stderr.contains("your fingerprint is \(try fingerprint(bob))"), "\(added.stderr)")
        let number = try kithOK(["friend", "verify", "--home", bob, "alice"]).split(separator: "\n")[0]
        #expect(added.stderr.contains("your safety number with alice is \(number)"))
        #expect(added.stderr.contains("friend request to alice is queued"))

        // carol pastes the same invitation: refused, and nothing changes for her.
        let second = try kith(["friend", "add", "--home", carol, made.invitation])
        #expect(second.status != 0 && second.stderr.contains("kith: error: this invitation was used or has expired"), "\(second.stderr)")
        #expect(second.stderr.contains("kith: hint: ask the person who sent it for a new one"))
        #expect(try kithOK(["friend", "list", "--home", carol]).isEmpty)

        // bob's request reaches alice with the next syncs; she sees both fingerprints and accepts.
        try kithOK(["sync", "--home", bob])
        #expect(try friendRequests(alice).isEmpty)
        try kithOK(["sync", "--home", alice])
        let requests = try friendRequests(alice)
        let bobsFingerprint = try fingerprint(bob)
        #expect(requests.map(\.name) == ["bob"] && requests.first?.fingerprint == bobsFingerprint)
        #expect(requests.first?.safetyNumber == String(number) && requests.first?.invitation == made.id)
        #expect(try kithOK(["friend", "requests", "--home", alice]).contains("safety number \(number), invitation \(made.id)"))
        #expect(try kithOK(["status", "--home", alice]).contains("requests   1 friend request waits (kith friend requests)"))
        let accepted = try kith(["friend", "accept", "--home", alice, "bob"])
        #expect(accepted.status == 0 && accepted.stdout == "bob\n  fingerprint \(bobsFingerprint)\n", "\(accepted.stderr)")
        #expect(accepted.stderr.contains("your fingerprint is \(try fingerprint(alice))"))
        #expect(try friendRequests(alice).isEmpty)
        #expect(try kith(["friend", "accept", "--home", alice, "bob"]).stderr.contains("no friend request from \"bob\""))

        // They can post to each other.
        for (from, to, text) in [(alice, "bob", "hello bob"), (bob, "alice", "hello alice")] {
            try kithOK(["group", "create", "--home", from, "close"])
            try kithOK(["group", "add", "--home", from, "close", to])
            try kithOK(["post", "--home", from, "--to", "close", text])
            try kithOK(["sync", "--home", from])
        }
        try kithOK(["sync", "--home", alice])
        try kithOK(["sync", "--home", bob])
        #expect(try feed(bob).filter { $0.author == "alice" }.map(\.text) == ["hello bob"])
        #expect(try feed(alice).filter { $0.author == "bob" }.map(\.text) == ["hello alice"])

        // An invitation past its time is refused like a used one.
        let short = try invite(alice, ["--expires", "2s"])
        Thread.sleep(forTimeInterval: 3)
        let late = try kith(["friend", "add", "--home", dave, short.invitation])
        #expect(late.status != 0 && late.stderr.contains("this invitation was used or has expired"), "\(late.stderr)")
        #expect(try kithOK(["friend", "list", "--home", dave]).isEmpty)

        #expect(try kith(["invite", "--home", alice, "--expires", "3 days"]).stderr.contains("--expires must be a number and s, m, h or d"))
        #expect(try kith(["invite", "--home", alice, "--expires", "31d"]).stderr.contains("an invitation lasts 1 second to 30 days"))
        // The relay keeps invitations 7 days at most (relay.max_invitation_days).
        let long = try kith(["invite", "--home", alice, "--expires", "8d"])
        #expect(long.stderr.contains("storing the invitation failed") && long.stderr.contains("604800"), "\(long.stderr)")
    }

    @Test func aDeclinedRequestRevokesTheInvitationsToken() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let homes = try people(["alice", "mallory", "carol"], in: dir, relayURL: relay.url)
        let (alice, mallory, carol) = (homes[0], homes[1], homes[2])
        for (home, invitation) in [(mallory, try invite(alice).invitation), (carol, try invite(alice).invitation)] {
            try kithOK(["friend", "add", "--home", home, invitation])
            try kithOK(["sync", "--home", home])
        }
        try kithOK(["sync", "--home", alice])
        #expect(try friendRequests(alice).map(\.name) == ["mallory", "carol"])

        let declined = try kith(["friend", "decline", "--home", alice, "mallory"])
        #expect(declined.status == 0 && declined.stderr.contains("declined the request from mallory; revoked 1 drop token"), "\(declined.stderr)")
        #expect(try friendRequests(alice).map(\.name) == ["carol"])
        try kithOK(["friend", "accept", "--home", alice, "carol", "--as", "caro"])
        #expect(try kithOK(["friend", "list", "--home", alice]).hasPrefix("caro  "))

        // mallory's drops into alice's mailbox are refused from now on; carol's go through.
        for home in [mallory, carol] {
            try kithOK(["group", "create", "--home", home, "all"])
            try kithOK(["group", "add", "--home", home, "all", "alice"])
        }
        let refused = try kith(["sync", "--home", mallory])
        #expect(refused.stderr.contains("no valid drop token"), "\(refused.stderr)")
        // (A group add sends the key and the member list: two envelopes.)
        let carols = try kith(["sync", "--home", carol])
        #expect(carols.status == 0 && carols.stdout.hasPrefix("delivered 2,") && !carols.stderr.contains("refused"), "\(carols.stdout)\(carols.stderr)")
    }

    @Test func aCardPastedFromAMailIsFoundOrRefusedWithAHint() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let homes = try people(["alice", "bob", "carol"], in: dir, relayURL: relay.url)
        let (alice, bob, carol) = (homes[0], homes[1], homes[2])
        func quoted(_ card: String, width: Int, cut: Int = 0) -> String {
            let text = String(card.dropLast(cut))
            let lines = stride(from: 0, to: text.count, by: width).map { "> " + text.dropFirst($0).prefix(width) }
            return "Hi Bob,\n\nalice wrote:\n> here is my card:\n" + lines.joined(separator: "\n") + "\n>\n> see you\n"
        }
        let card = try kithOK(["card", "--home", alice, "--for", "bob"])
        let added = try kith(["friend", "add", "--home", bob, "-"], stdin: quoted(card, width: 64))
        #expect(added.status == 0 && added.stdout.hasPrefix("alice\n  fingerprint "), "\(added.stderr)")

        let other = try kithOK(["card", "--home", alice, "--for", "carol"])
        let cut = try kith(["friend", "add", "--home", carol, "-"], stdin: quoted(other, width: 70, cut: 40))
        #expect(cut.status != 0 && cut.stderr.contains("kith: error: not a valid contact card: it seems cut off"), "\(cut.stderr)")
        #expect(cut.stderr.contains("kith: hint: copy it again, whole, from `kith card`"))
        let two = try kith(["friend", "add", "--home", carol, "\(other)\n\(try kithOK(["card", "--home", bob]))"])
        #expect(two.stderr.contains("found 2 different contact cards") && two.stderr.contains("paste one card at a time"))
        #expect(try kithOK(["friend", "list", "--home", carol]).isEmpty)
        // friend replace reads a pasted card the same way.
        let replaced = try kith(["friend", "replace", "--home", bob, "alice", "-"], stdin: quoted(other, width: 70, cut: 40))
        #expect(replaced.stderr.contains("not a valid contact card: it seems cut off"))
    }

    /// With alice's daemon running, her invitation commands go through it (no passphrase), and it
    /// fetches bob's request by itself; bob's own daemon sends it at once.
    @Test(.timeLimit(.minutes(5))) func invitationsGoThroughTheDaemons() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let homes = try people(["alice", "bob", "carol"], in: dir, relayURL: relay.url)
        let (alice, bob, carol) = (homes[0], homes[1], homes[2])
        let aliceDaemon = try DaemonProcess(home: alice), bobDaemon = try DaemonProcess(home: bob)
        defer { _ = aliceDaemon.stop(); _ = bobDaemon.stop() }
        func run(_ home: String, _ args: [String]) throws -> String { try kithOK(args + ["--home", home], passphrase: nil) }
        let made = try JSONDecoder().decode(InvitationItem.self, from: Data(try run(alice, ["invite", "--json"]).utf8))
        #expect(try run(bob, ["friend", "add", made.invitation]).hasPrefix("alice\n  fingerprint "))
        #expect(try eventually { try friendRequests(alice, passphrase: nil).map(\.name) == ["bob"] })
        #expect(try run(alice, ["friend", "requests"]).contains("invitation \(made.id)"))
        #expect(try run(alice, ["friend", "accept", "bob"]).hasPrefix("bob\n  fingerprint "))
        #expect(try run(alice, ["friend", "list"]).hasPrefix("bob  "))

        // carol's request, declined through the daemon.
        try kithOK(["friend", "add", "--home", carol, try run(alice, ["invite"])])
        try kithOK(["sync", "--home", carol])
        #expect(try eventually { try friendRequests(alice, passphrase: nil).map(\.name) == ["carol"] })
        let declined = try kith(["friend", "decline", "--home", alice, "carol"], passphrase: nil)
        #expect(declined.status == 0 && declined.stderr.contains("revoked 1 drop token"), "\(declined.stderr)")
        #expect(try friendRequests(alice, passphrase: nil).isEmpty)
    }
}
