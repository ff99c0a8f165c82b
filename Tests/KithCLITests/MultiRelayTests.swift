import Foundation
import Testing

/// An inbox on two relays: `kith relay add` tells friends, senders deliver
/// to both, and the owner fetches from both and keeps each post once.
@Suite(.serialized) struct MultiRelayTests {
    @Test func withOneOfTwoRelaysDownEveryPostArrivesAndNothingTwice() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let one = try RelayProcess(home: dir + "/r1")
        defer { one.stop() }
        var two = try RelayProcess(home: dir + "/r2")
        defer { two.stop() }
        let (alice, bob) = try aliceAndBob(in: dir, relay: one)
        // r2 is on 127.0.0.1 and not alice's: she accepts it as a local relay, like a card naming it.
        let local = ["KITH_ALLOW_LOCAL_RELAYS": "1"]

        let added = try await kithAsync(["relay", "add", "--home", bob, two.url])
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stderr.contains("inbox update queued for 1 friend"))
        #expect(try await kithAsync(["relay", "add", "--home", bob, two.url]).status != 0)
        try await kithOKAsync(["sync", "--home", bob])
        try await kithOKAsync(["sync", "--home", alice], env: local)
        // alice now delivers to both of bob's relays.
        func bobsRelays() async throws -> [String] {
            let list = try JSONSerialization.jsonObject(with: Data(try await kithOKAsync(["friend", "list", "--home", alice, "--json"]).utf8)) as! [[String: Any]]
            return list.first { $0["name"] as? String == "bob" }?["relays"] as? [String] ?? []
        }
        #expect(try await bobsRelays() == [one.url, two.url].sorted())
        try await kithOKAsync(["group", "create", "--home", alice, "friends"])
        try await kithOKAsync(["group", "add", "--home", alice, "friends", "bob"])
        try await kithOKAsync(["sync", "--home", alice], env: local)
        try await kithOKAsync(["sync", "--home", bob])

        // r2 stops: every post still reaches bob through r1.
        two.stop()
        var ids: [String] = []
        for i in 1...3 { ids.append(try await kithOKAsync(["post", "--home", alice, "--to", "friends", "post \(i)"])) }
        #expect(try await kithAsync(["sync", "--home", alice], env: local).status == 1)
        #expect(try await kithAsync(["sync", "--home", bob]).status == 1)
        #expect(Set(try await feedAsync(bob).map(\.id)) == Set(ids))

        // r2 is back: the queued copies go through, and bob keeps each post once.
        two = try RelayProcess(home: dir + "/r2", port: two.port)
        try await kithOKAsync(["sync", "--home", alice, "--retry-now"], env: local)
        try await kithOKAsync(["sync", "--home", bob])
        ids.append(try await kithOKAsync(["post", "--home", alice, "--to", "friends", "post 4"]))
        try await kithOKAsync(["sync", "--home", alice], env: local)
        try await kithOKAsync(["sync", "--home", bob])
        let items = try await feedAsync(bob)
        #expect(items.count == 4)
        #expect(Set(items.map(\.id)) == Set(ids))

        // Removing r2 tells alice; the last relay cannot be removed.
        try await kithOKAsync(["relay", "remove", "--home", bob, two.url])
        #expect(try await kithAsync(["relay", "remove", "--home", bob, one.url]).stderr.contains("only relay"))
        try await kithOKAsync(["sync", "--home", bob])
        try await kithOKAsync(["sync", "--home", alice], env: local)
        #expect(try await bobsRelays() == [one.url])
        two.stop()
        ids.append(try await kithOKAsync(["post", "--home", alice, "--to", "friends", "post 5"]))
        // r2 is no longer one of bob's inboxes, so its being down costs alice nothing.
        try await kithOKAsync(["sync", "--home", alice], env: local)
        try await kithOKAsync(["sync", "--home", bob])
        #expect(Set(try await feedAsync(bob).map(\.id)) == Set(ids))
    }
}
