import Foundation
import KithCrypto
@testable import KithNode
import KithProtocol
import Testing

/// Posts of a fetched batch are verified and decrypted ahead of the
/// transaction that stores them (`Node.openAhead`), with the same checks.
@Suite struct OpenAheadTests {
    @Test func postsOpenedAheadAreCheckedAsInTheTransaction() async throws {
        let clock = TestClock()
        try await withThreeFriends(bobClock: clock) { alice, bob, mallory, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            _ = try await alice.sync()
            #expect(try await bob.sync().newAudienceKeys == 1)
            let family = try await alice.heldKey(audienceNamed: "family")
            let valid = try alice.craftPost(audience: family, text: "dinner at eight", createdAt: clock.now)
            let future = try alice.craftPost(audience: family, text: "next year", createdAt: clock.now + 365 * 86_400)
            var tampered = try alice.craftPost(audience: family, text: "tampered", createdAt: clock.now)
            tampered[tampered.count - 1] ^= 1
            // An audience of mallory's whose key bob does not hold.
            let club = AudienceKey(owner: try mallory.identity(), audienceID: randomBytes(16), epoch: 1, key: SecretBytes(random: 32))
            let unknown = try mallory.craftPost(audience: club, text: "no key", createdAt: clock.now)

            let items = [valid, future, tampered, unknown, Array(valid.prefix(10))].enumerated().map {
                FetchedBatch.Item(sequence: UInt64($0.offset + 1), receivedAt: clock.now, envelope: $0.element)
            }
            let opened = try await bob.openAhead(items)
            #expect(opened.keys.sorted() == [0, 1, 2], "only posts under a key bob holds are opened ahead")
            guard case .success(.post(let post)) = opened[0] else { Issue.record("the valid post did not open"); return }
            #expect(post.text == "dinner at eight")
            guard case .failure(let error) = opened[1] else { Issue.record("a post from the future opened"); return }
            #expect(error.description.contains("not valid now"), "\(error)")
            guard case .failure = opened[2] else { Issue.record("a tampered post opened"); return }

            // Through the relay, the sync opens them ahead and stores or refuses each as before.
            for envelope in [valid, future, tampered] { try await alice.dropRaw(envelope, to: "bob") }
            let report = try await bob.sync()
            #expect(report.newPosts == 1 && report.rejected == 2, "\(report)")
            #expect(try bob.feed().map(\.text) == ["dinner at eight"])
            // Fetched again (not acknowledged, say), the stored post is not stored twice.
            var part = SyncReport()
            _ = try await bob.commit(FetchedBatch(items: Array(items.prefix(1)), more: false), from: "https://relay.example",
                                     opened: try await bob.openAhead(Array(items.prefix(1))), &part)
            #expect(part.fetched == 0 && part.newPosts == 0)
            #expect(try bob.feed().map(\.text) == ["dinner at eight"])
        }
    }
}
