import Foundation
import Testing

/// `kith relay status` reads a relay's figures from its database, also while it runs.
@Suite struct RelayStatusTests {
    struct Status: Decodable { let mailboxes, envelopes, envelopeBytes, deliveriesWaiting, blobs, blobBytes, databaseBytes: Int }

    @Test func statusCountsWhatTheRelayHolds() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let (alice, _) = try aliceBobAndFamily(in: dir, relay: relay)
        try kithOK(["post", "--home", alice, "--to", "family", "hello"])
        try kithOK(["sync", "--home", alice])
        let shown = try JSONDecoder().decode(Status.self, from: Data(try kithOK(["relay", "status", "--home", relay.home, "--json"]).utf8))
        // Two mailboxes; for bob, the key message, the member list and the post.
        #expect(shown.mailboxes == 2 && shown.envelopes == 3 && shown.deliveriesWaiting == 3)
        #expect(shown.envelopeBytes > 0 && shown.databaseBytes >= shown.envelopeBytes)
        #expect(shown.blobs == 0 && shown.blobBytes == 0)
        let text = try kithOK(["relay", "status", "--home", relay.home])
        #expect(text.hasPrefix("mailboxes           2\n"))

        let missing = try kith(["relay", "status", "--home", dir + "/nowhere"])
        #expect(missing.status != 0 && missing.stderr.contains("holds no relay"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/nowhere"), "status creates nothing")
        relay.stop()
    }
}
