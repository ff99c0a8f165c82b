import Foundation
import Testing

/// The demo through the real binary: a relay and three nodes as separate
/// processes talking HTTP on 127.0.0.1.
@Suite(.serialized) struct ScenarioTests {
    @Test func bobReadsAlicesPostAndCarolDoesNot() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        for name in ["alice", "bob", "carol"] {
            let line = try kithOK(["init", "--home", "\(dir)/\(name)", "--name", name, "--relay", relay.url])
            #expect(line.hasPrefix("\(name)  "))
        }
        // Cards both ways; carol is alice's friend too, but not in "family".
        for (a, b) in [("alice", "bob"), ("bob", "alice"), ("alice", "carol"), ("carol", "alice")] {
            let card = try kithOK(["card", "--home", "\(dir)/\(a)"])
            #expect(card.hasPrefix("kith-card:") && !card.contains("\n"))
            let added = try kithOK(["friend", "add", "--home", "\(dir)/\(b)", card])
            #expect(added.hasPrefix("\(a)\n  fingerprint "))
        }
        let friends = try kithOK(["friend", "list", "--home", "\(dir)/alice"])
        #expect(friends.split(separator: "\n").map { $0.split(separator: " ").first! } == ["bob", "carol"])

        try kithOK(["group", "create", "--home", "\(dir)/alice", "family", "--hide-members"])
        try kithOK(["group", "add", "--home", "\(dir)/alice", "family", "bob"])
        let text = "The baby is here! \(UUID().uuidString)"
        let id = try kithOK(["post", "--home", "\(dir)/alice", "--to", "family", text])
        #expect(id.count == 32)

        #expect(try kithOK(["sync", "--home", "\(dir)/alice"]).hasPrefix("delivered 2,"))
        // The relay holds the post now, as ciphertext only.
        #expect(!(try relayFiles(in: dir + "/relay", contain: text)))
        #expect(!(try relayFiles(in: dir + "/relay", contain: "family")))
        #expect(!(try relayFiles(in: dir + "/relay", contain: "alice")))

        for name in ["bob", "carol"] { try kithOK(["sync", "--home", "\(dir)/\(name)"]) }
        let bobs = try feed(dir + "/bob")
        #expect(bobs.map(\.text) == [text])
        #expect(bobs.first?.id == id && bobs.first?.author == "alice" && bobs.first?.audience == "family")
        #expect(try feed(dir + "/carol").isEmpty)
        #expect(try feed(dir + "/alice").map(\.text) == [text])
        // A second sync changes nothing: nothing is shown twice.
        #expect(try kithOK(["sync", "--home", "\(dir)/bob"]).contains("fetched 0, new posts 0"))
        #expect(try feed(dir + "/bob").count == 1)
        // The local databases are not shared: bob's holds the text, the relay's never did.
        #expect(!(try relayFiles(in: dir + "/relay", contain: text)))
        #expect(relay.stop() == 0, "the relay stops cleanly on SIGTERM")
    }

    @Test func keysFromSomeoneNotYetAFriendWaitUntilTheyAre() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        for name in ["alice", "dave"] { try kithOK(["init", "--home", "\(dir)/\(name)", "--name", name, "--relay", relay.url]) }
        // Only alice has added dave so far.
        try kithOK(["friend", "add", "--home", "\(dir)/alice", try kithOK(["card", "--home", "\(dir)/dave"])])
        try kithOK(["group", "create", "--home", "\(dir)/alice", "climbing", "--hide-members"])
        try kithOK(["group", "add", "--home", "\(dir)/alice", "climbing", "dave"])
        try kithOK(["post", "--home", "\(dir)/alice", "--to", "climbing", "Saturday at 9?"])
        try kithOK(["sync", "--home", "\(dir)/alice"])
        #expect(try kithOK(["sync", "--home", "\(dir)/dave"]).contains("waiting 2"))
        #expect(try feed(dir + "/dave").isEmpty)
        // dave adds alice; the waiting key and post are processed on the next sync.
        try kithOK(["friend", "add", "--home", "\(dir)/dave", try kithOK(["card", "--home", "\(dir)/alice"])])
        #expect(try kithOK(["sync", "--home", "\(dir)/dave"]).contains("new posts 1, new audience keys 1, waiting 0"))
        #expect(try feed(dir + "/dave").map(\.text) == ["Saturday at 9?"])
    }

    @Test func deliveriesSurviveARelayOutage() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var relay = try RelayProcess(home: dir + "/relay")
        let port = relay.port
        for name in ["alice", "bob"] { try kithOK(["init", "--home", "\(dir)/\(name)", "--name", name, "--relay", relay.url]) }
        try kithOK(["friend", "add", "--home", "\(dir)/alice", try kithOK(["card", "--home", "\(dir)/bob"])])
        try kithOK(["friend", "add", "--home", "\(dir)/bob", try kithOK(["card", "--home", "\(dir)/alice"])])
        try kithOK(["group", "create", "--home", "\(dir)/alice", "family", "--hide-members"])
        try kithOK(["group", "add", "--home", "\(dir)/alice", "family", "bob"])
        try kithOK(["post", "--home", "\(dir)/alice", "--to", "family", "sent while the relay was down"])
        #expect(relay.stop() == 0)

        let failed = try kith(["sync", "--home", "\(dir)/alice"])
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("kith: warning: delivery to \(relay.url) failed"))
        #expect(failed.stdout.hasPrefix("delivered 0,"))

        // The relay comes back on the same port with the same database; the outbox was kept.
        relay = try RelayProcess(home: dir + "/relay", port: port)
        #expect(try kithOK(["sync", "--home", "\(dir)/alice", "--retry-now"]).hasPrefix("delivered 2,"))
        try kithOK(["sync", "--home", "\(dir)/bob"])
        #expect(try feed(dir + "/bob").map(\.text) == ["sent while the relay was down"])
        relay.stop()
    }
}
