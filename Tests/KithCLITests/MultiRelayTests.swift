import Foundation
import Testing

/// An inbox on two relays: `kith relay add` tells friends, senders deliver
/// to both, and the owner fetches from both and keeps each post once.
@Suite(.serialized) struct MultiRelayTests {
    @Test func withOneOfTwoRelaysDownEveryPostArrivesAndNothingTwice() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let one = try RelayProcess(home: dir + "/r1")
        defer { one.stop() }
        var two = try RelayProcess(home: dir + "/r2")
        defer { two.stop() }
        let (alice, bob) = try aliceAndBob(in: dir, relay: one)
        // r2 is on 127.0.0.1 and not alice's: she accepts it as a local relay, like a card naming it.
        let local = ["KITH_ALLOW_LOCAL_RELAYS": "1"]

        let added = try kith(["relay", "add", "--home", bob, two.url])
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stderr.contains("inbox update queued for 1 friend"))
        #expect(try kith(["relay", "add", "--home", bob, two.url]).status != 0)
        try kithOK(["sync", "--home", bob])
        try kithOK(["sync", "--home", alice], env: local)
        // alice now delivers to both of bob's relays.
        func bobsRelays() throws -> [String] {
            let list = try JSONSerialization.jsonObject(with: Data(try kithOK(["friend", "list", "--home", alice, "--json"]).utf8)) as! [[String: Any]]
            return list.first { $0["name"] as? String == "bob" }?["relays"] as? [String] ?? []
        }
        #expect(try bobsRelays() == [one.url, two.url].sorted())
        try kithOK(["group", "create", "--home", alice, "friends"])
        try kithOK(["group", "add", "--home", alice, "friends", "bob"])
        try kithOK(["sync", "--home", alice], env: local)
        try kithOK(["sync", "--home", bob])

        // r2 stops: every post still reaches bob through r1.
        two.stop()
        var ids: [String] = []
        for i in 1...3 { ids.append(try kithOK(["post", "--home", alice, "--to", "friends", "post \(i)"])) }
        #expect(try kith(["sync", "--home", alice], env: local).status == 1)
        #expect(try kith(["sync", "--home", bob]).status == 1)
        #expect(Set(try feed(bob).map(\.id)) == Set(ids))

        // r2 is back: the queued copies go through, and bob keeps each post once.
        two = try RelayProcess(home: dir + "/r2", port: two.port)
        try kithOK(["sync", "--home", alice, "--retry-now"], env: local)
        try kithOK(["sync", "--home", bob])
        ids.append(try kithOK(["post", "--home", alice, "--to", "friends", "post 4"]))
        try kithOK(["sync", "--home", alice], env: local)
        try kithOK(["sync", "--home", bob])
        let items = try feed(bob)
        #expect(items.count == 4)
        #expect(Set(items.map(\.id)) == Set(ids))

        // Removing r2 tells alice; the last relay cannot be removed.
        try kithOK(["relay", "remove", "--home", bob, two.url])
        #expect(try kith(["relay", "remove", "--home", bob, one.url]).stderr.contains("only relay"))
        try kithOK(["sync", "--home", bob])
        try kithOK(["sync", "--home", alice], env: local)
        #expect(try bobsRelays() == [one.url])
        two.stop()
        ids.append(try kithOK(["post", "--home", alice, "--to", "friends", "post 5"]))
        // r2 is no longer one of bob's inboxes, so its being down costs alice nothing.
        try kithOK(["sync", "--home", alice], env: local)
        try kithOK(["sync", "--home", bob])
        #expect(Set(try feed(bob).map(\.id)) == Set(ids))
    }
}
