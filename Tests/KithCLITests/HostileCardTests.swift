import Foundation
import Testing

/// Cards from others, through the real binary.
@Suite(.serialized) struct HostileCardTests {
    /// The text of a protocol test vector.
    func vectorBody(_ name: String) throws -> String {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("KithProtocolTests/Vectors/\(name)").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return String(text[text.range(of: "\n\n")!.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A signed card whose sequence is 2^63 crashed `kith friend add` (Int64 conversion).
    @Test func aCardWithAnOutOfRangeSequenceIsRefused() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        try kithOK(["init", "--home", dir + "/bob", "--name", "bob", "--relay", relay.url])
        for vector in ["card-sequence-overflow.txt", "card-name-bidi.txt", "card-relay-control.txt", "card-base64-noncanonical.txt"] {
            let r = try kith(["friend", "add", "--home", dir + "/bob", try vectorBody(vector)])
            #expect(r.status == 1, "\(vector)")
            #expect(r.stderr.hasPrefix("kith: error: not a valid contact card"), "\(vector): \(r.stderr)")
        }
        #expect(try kithOK(["friend", "list", "--home", dir + "/bob"]).isEmpty)
        relay.stop()
    }

    /// `-` reads standard input, but never more than 1 MiB of it.
    @Test func standardInputIsBounded() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let (alice, _) = try aliceAndBob(in: dir, relay: relay)
        try kithOK(["group", "create", "--home", alice, "family"])
        let big = try kith(["post", "--home", alice, "--to", "family", "-"], stdin: String(repeating: "x", count: (1 << 20) + 10))
        #expect(big.status == 1 && big.stderr.hasPrefix("kith: error: the post on standard input is larger than 1 MiB"), "\(big.stderr)")
        #expect(try kith(["friend", "add", "--home", alice, "-"], stdin: String(repeating: "k", count: 2 << 20)).stderr
                    .hasPrefix("kith: error: the card on standard input is larger than 1 MiB"))
        #expect(try kith(["post", "--home", alice, "--to", "family", "-"], stdin: "from a pipe\n").status == 0)
        #expect(try feed(alice).map(\.text) == ["from a pipe\n"])
        relay.stop()
    }

    /// A card's relay decides where my node sends requests: not into my own network, unless it is my relay too.
    @Test func aCardNamingAnotherLocalRelayNeedsConsent() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mine = try RelayProcess(home: dir + "/mine"), theirs = try RelayProcess(home: dir + "/theirs")
        try kithOK(["init", "--home", dir + "/bob", "--name", "bob", "--relay", mine.url])
        try kithOK(["init", "--home", dir + "/alice", "--name", "alice", "--relay", theirs.url])
        try kithOK(["init", "--home", dir + "/carol", "--name", "carol", "--relay", mine.url])
        // carol shares bob's relay: fine.
        try kithOK(["friend", "add", "--home", dir + "/bob", try kithOK(["card", "--home", dir + "/carol"])])
        // alice's relay is on 127.0.0.1 but is not bob's: refused, with a hint.
        let card = try kithOK(["card", "--home", dir + "/alice"])
        let refused = try kith(["friend", "add", "--home", dir + "/bob", card])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("kith: error: the card names a relay on a local network that is not yours: \(theirs.url)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("kith: hint: if you trust this card, set KITH_ALLOW_LOCAL_RELAYS=1"))
        #expect(try kith(["friend", "add", "--home", dir + "/bob", card], env: ["KITH_ALLOW_LOCAL_RELAYS": "1"]).status == 0)
        #expect(try kithOK(["friend", "list", "--home", dir + "/bob"]).split(separator: "\n").map { $0.split(separator: " ")[0] } == ["alice", "carol"])
        mine.stop(); theirs.stop()
    }
}

/// Changing an audience's members, through the binary: what each command says it did.
@Suite(.serialized) struct MembershipCommandTests {
    @Test func groupAddAndRemoveSayWhoReadsWhat() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let (alice, bob) = try aliceAndBob(in: dir, relay: relay)
        try kithOK(["group", "create", "--home", alice, "family"])
        let added = try kith(["group", "add", "--home", alice, "family", "bob"])
        #expect(added.status == 0 && added.stderr.contains("they can read what you post from now on, not your earlier posts"), "\(added.stderr)")
        try kithOK(["post", "--home", alice, "--to", "family", "while bob was in"])
        try kithOK(["sync", "--home", alice]); try kithOK(["sync", "--home", bob])

        let removed = try kith(["group", "remove", "--home", alice, "family", "bob"])
        #expect(removed.status == 0 && removed.stderr.contains("they keep the posts they already have and cannot read anything you post there from now on"),
                "\(removed.stderr)")
        #expect(try kith(["group", "remove", "--home", alice, "family", "bob"]).stderr.contains("bob is not in \"family\""))
        #expect(try kith(["group", "remove", "--home", alice, "family", "zed"]).stderr.contains("kith: error: no friend named \"zed\""))
        try kithOK(["post", "--home", alice, "--to", "family", "after bob left"])
        try kithOK(["sync", "--home", alice]); try kithOK(["sync", "--home", bob])
        #expect(try feed(bob).map(\.text) == ["while bob was in"])
        #expect(try kithOK(["group", "list", "--home", alice]) == "family: (no members)")
        relay.stop()
    }
}
