import Foundation
import GRDB
import KithCrypto
@testable import KithNode
import KithProtocol
import Testing

extension Node {
    /// The envelopes waiting in my outbox (a sender can always hand its own envelopes to anyone).
    func queuedEnvelopes() async throws -> [[UInt8]] {
        let atRest = try atRest
        return try await db.writer.read { db in
            try Data.fetchAll(db, sql: "SELECT request FROM outbox ORDER BY id").map { try DropRequest(bytes: try atRest.open($0, .request)).envelope }
        }

    }
}

/// Who reads what when an audience's members change: every change starts a new epoch.
@Suite struct MembershipTests {
    @Test func aNewMemberReadsFromNowOnEvenGivenEarlierEnvelopes() async throws {
        try await withThreeFriends { alice, bob, carol, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            _ = try await alice.post(to: "family", text: "before carol")
            let before = try await alice.queuedEnvelopes().last!
            _ = try await alice.sync()
            let change = try #require(try await alice.addMember(audience: "family", friend: "mallory"))
            #expect(change.epoch == 3 && change.keyQueuedFor == 2 && change.skipped.isEmpty)
            _ = try await alice.post(to: "family", text: "after carol")
            _ = try await alice.sync()
            _ = try await bob.sync()
            _ = try await carol.sync()
            #expect(try bob.feed().map(\.text) == ["after carol", "before carol"])
            #expect(try carol.feed().map(\.text) == ["after carol"])
            // Handed the earlier post's envelope, carol's node cannot open it: it waits for a key she never gets.
            try await alice.dropRaw(before, to: "mallory")
            let report = try await carol.sync()
            #expect(report.fetched == 1 && report.newPosts == 0 && report.waiting == 1)
            #expect(try carol.feed().map(\.text) == ["after carol"])
        }
    }

    @Test func aRemovedMemberKeepsWhatTheyHadAndReadsNothingNew() async throws {
        try await withThreeFriends { alice, bob, carol, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            try await alice.addMember(audience: "family", friend: "mallory")
            _ = try await alice.post(to: "family", text: "while bob was in")
            for node in [alice, bob, carol] { _ = try await node.sync() }

            let change = try #require(try await alice.removeMember(audience: "family", friend: "bob"))
            #expect(change.keyQueuedFor == 1)
            #expect(try await alice.removeMember(audience: "family", friend: "bob") == nil)
            #expect(try alice.audiences().map(\.members) == [["mallory"]])
            _ = try await alice.post(to: "family", text: "after bob left")
            let after = try await alice.queuedEnvelopes().last!
            for node in [alice, bob, carol] { _ = try await node.sync() }
            #expect(try carol.feed().map(\.text) == ["after bob left", "while bob was in"])
            #expect(try bob.feed().map(\.text) == ["while bob was in"])
            // Handed the new post's envelope, bob's node cannot open it.
            try await alice.dropRaw(after, to: "bob")
            let report = try await bob.sync()
            #expect(report.newPosts == 0 && report.waiting == 1)
            #expect(try bob.feed().map(\.text) == ["while bob was in"])
        }
    }

    @Test func shareHistorySendsTheCurrentKey() async throws {
        try await withThreeFriends { alice, bob, carol, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            _ = try await alice.post(to: "family", text: "before carol")
            let before = try await alice.queuedEnvelopes().last!
            let change = try #require(try await alice.addMember(audience: "family", friend: "mallory", shareHistory: true))
            #expect(change.epoch == 2 && change.keyQueuedFor == 1)
            _ = try await alice.sync()
            _ = try await bob.sync()
            // With the current key, carol reads the earlier post once she is given it.
            try await alice.dropRaw(before, to: "mallory")
            _ = try await carol.sync()
            #expect(try carol.feed().map(\.text) == ["before carol"])
        }
    }
}
