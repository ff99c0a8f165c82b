import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import KithCrypto
@testable import KithNode
import KithProtocol
import KithRelay
import Logging
import Testing

/// Runs a real relay on 127.0.0.1 for the duration of `body`.
func withHonestRelay(_ body: @escaping @Sendable (_ url: String) async throws -> Void) async throws {
    var logger = Logger(label: "test.relay")
    logger.logLevel = .warning
    let app = buildRelayApplication(store: try SQLiteRelayStore(), configuration: RelayConfiguration(), host: "127.0.0.1", port: 0, logger: logger)
    try await app.test(.live) { client in try await body("http://127.0.0.1:\(client.port!)") }
}

/// alice has mailboxes on `aliceRelays`, bob on `bobRelays`; each has the
/// other's card, and bob has posted "hello" to an audience of alice's and synced.
func aliceAndBob(in dir: String, aliceRelays: [String], bobRelays: [String]) async throws -> (alice: Node, bob: Node) {
    let alice = try await Node.create(home: dir + "/alice", name: "alice", relays: aliceRelays, passphrase: passphrase, kdf: .interactive)
    let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: bobRelays, passphrase: passphrase, kdf: .interactive)
    try await bob.addFriend(cardText: try await alice.issueCard().text, allowLocalRelays: true)
    try await alice.addFriend(cardText: try await bob.issueCard().text, allowLocalRelays: true)
    try await bob.createAudience(name: "friends")
    try await bob.addMember(audience: "friends", friend: "alice")
    _ = try await bob.post(to: "friends", text: "hello")
    _ = try await bob.sync()
    return (alice, bob)
}

/// A relay that lies or hangs costs a sync no more than its budget, is
/// named, and does not keep the honest relay's envelopes from arriving.
@Suite struct HostileRelayTests {
    let quick = RelayBudget(batches: 5, bytes: 1 << 20, time: .seconds(2))

    @Test(.timeLimit(.minutes(3))) func aRelayRepeatingItselfIsCutOff() async throws {
        try await FakeRelay(fetch: .repeatSame).run { hostile, log in
            try await withHonestRelay { honest in
                let dir = temporaryDirectory()
                defer { try? FileManager.default.removeItem(atPath: dir) }
                let (alice, _) = try await aliceAndBob(in: dir, aliceRelays: [hostile, honest], bobRelays: [honest])
                let report = try await alice.sync(budget: RelayBudget(batches: 1000, bytes: 1 << 30, time: .seconds(60)))
                let status = report.fetches.first { $0.relay == hostile }
                #expect(status?.state == .misbehaving)
                #expect(status?.envelopes == 1)
                #expect(log.count("fetch") == 2, "the second answer repeats sequence number 1 and ends the fetch")
                #expect(report.fetchFailures == 1)
                #expect(report.problems.contains { $0.hasPrefix("relay \(hostile) misbehaves (sequence number 1 does not follow 1)") })
                #expect(report.fetches.first { $0.relay == honest }?.state == .done)
                #expect(report.newPosts == 1)
                #expect(try alice.feed().map(\.text) == ["hello"])
            }
        }
    }

    @Test(.timeLimit(.minutes(3))) func anEndlessRelayStopsAtTheBatchBudget() async throws {
        try await FakeRelay(fetch: .endless).run { hostile, log in
            try await withHonestRelay { honest in
                let dir = temporaryDirectory()
                defer { try? FileManager.default.removeItem(atPath: dir) }
                let (alice, _) = try await aliceAndBob(in: dir, aliceRelays: [hostile, honest], bobRelays: [honest])
                let report = try await alice.sync(budget: RelayBudget(batches: 5, bytes: 1 << 30, time: .seconds(60)))
                #expect(report.fetches.first { $0.relay == hostile }?.state == .partial)
                #expect(log.count("fetch") == 5)
                #expect(report.problems.contains { $0.hasPrefix("fetch from \(hostile) stopped at this sync's budget") })
                #expect(try alice.feed().map(\.text) == ["hello"])
                // The byte budget: envelopes of 100 bytes, 250 bytes allowed, so three batches.
                let bytes = try await alice.sync(budget: RelayBudget(batches: 1000, bytes: 250, time: .seconds(60)))
                #expect(bytes.fetches.first { $0.relay == hostile }?.state == .partial)
                #expect(log.count("fetch") == 5 + 3)
            }
        }
    }

    @Test(.timeLimit(.minutes(3))) func aRelayThatNeverAnswersCostsOnlyItsTime() async throws {
        try await FakeRelay(fetch: .silent).run { hostile, _ in
            try await withHonestRelay { honest in
                let dir = temporaryDirectory()
                defer { try? FileManager.default.removeItem(atPath: dir) }
                let (alice, _) = try await aliceAndBob(in: dir, aliceRelays: [hostile, honest], bobRelays: [honest])
                let report = try await alice.sync(budget: quick)
                let status = report.fetches.first { $0.relay == hostile }
                #expect(status?.state == .failed)
                #expect(status?.detail?.hasPrefix("no answer in time") == true)
                #expect(report.fetchFailures == 1)
                #expect(report.fetches.first { $0.relay == honest }?.state == .done)
                #expect(try alice.feed().map(\.text) == ["hello"])
            }
        }
    }

    @Test func sequenceNumbersMustIncrease() {
        func item(_ sequence: UInt64) -> FetchedBatch.Item { .init(sequence: sequence, receivedAt: 0, envelope: [1]) }
        let ok = Node.check(FetchedBatch(items: [item(4), item(9)], more: true), after: 3, limit: 10)
        #expect(ok.valid.count == 2 && ok.fault == nil)
        let back = Node.check(FetchedBatch(items: [item(4), item(4), item(5)], more: false), after: 3, limit: 10)
        #expect(back.valid.map(\.sequence) == [4] && back.fault != nil)
        #expect(Node.check(FetchedBatch(items: [item(3)], more: false), after: 3, limit: 10).fault != nil)
        #expect(Node.check(FetchedBatch(items: [], more: true), after: 0, limit: 10).fault != nil)
        let many = Node.check(FetchedBatch(items: (1...5).map(item), more: false), after: 0, limit: 3)
        #expect(many.valid.count == 3 && many.fault != nil)
    }

    /// The relay must not be able to link a sender's drops to the sender's
    /// own mailbox by the connection they arrive on.
    @Test(.timeLimit(.minutes(3))) func dropsAndOwnerRequestsUseSeparateConnections() async throws {
        try await FakeRelay().run { relay, log in
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let (alice, bob) = try await aliceAndBob(in: dir, aliceRelays: [relay], bobRelays: [relay])
            _ = try await bob.post(to: "friends", text: "again")
            _ = try await bob.sync()
            _ = try await alice.sync()
            let drops = log.ports("drop"), owner = log.ports("owner").union(log.ports("fetch"))
            #expect(log.count("drop") >= 3 && log.count("fetch") >= 2)
            #expect(!drops.isEmpty && !owner.isEmpty)
            #expect(drops.isDisjoint(with: owner))
        }
    }

    @Test(.timeLimit(.minutes(3))) func relayErrorTextsAreCleanedAndShort() async throws {
        let hostile = "\u{1B}[2J\u{1B}[31mfine\r\u{202E}exe.txt\u{2028}\u{9B}" + String(repeating: "x", count: 5000)
        try await FakeRelay(drop: .fail(hostile)).run { relay, log in
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let (_, bob) = try await aliceAndBob(in: dir, aliceRelays: [relay], bobRelays: [relay])
            let fetches = log.count("fetch")
            let report = try await bob.sync(retryNow: true)
            // The relay failed bob's deliveries: it is not asked again in this sync, not even to fetch.
            #expect(log.count("fetch") == fetches && log.count("drop") == 2)
            #expect(report.fetches.map(\.state) == [.failed] && report.fetchFailures == 1)
            let line = try #require(report.problems.first { $0.hasPrefix("delivery to \(relay) failed (") })
            let stored = try await bob.db.writer.read { db in try String.fetchAll(db, sql: "SELECT last_error FROM outbox") }
            #expect(!stored.isEmpty)
            for text in [line] + stored {
                #expect(!text.unicodeScalars.contains { [.control, .format, .lineSeparator, .paragraphSeparator].contains($0.properties.generalCategory) })
                #expect(text.contains("\u{FFFD}[2J"))
                #expect(text.count < 400)
            }
            #expect(line.contains("for alice wait"))
        }
    }

    @Test func extremeValuesDoNotTrap() {
        #expect(Node.retryTime(after: .max, attempt: .max) == .max)
        #expect(Node.retryTime(after: 0, attempt: .min) >= 2)
        let top = FetchedBatch.Item(sequence: .max, receivedAt: .max, envelope: [])
        #expect(Node.check(FetchedBatch(items: [top], more: true), after: .max, limit: 10).fault != nil)
        #expect(Node.check(FetchedBatch(items: [top], more: true), after: 0, limit: 10).fault == nil)
    }

    @Test func cleaningKeepsOrdinaryText() {
        #expect(RelayClient.clean("no valid drop token for any target mailbox") == "no valid drop token for any target mailbox")
        #expect(RelayClient.clean("a\tb\u{200F}c\u{2029}") == "a\u{FFFD}b\u{FFFD}c\u{FFFD}")
        #expect(RelayClient.clean(String(repeating: "é", count: 300)).count == 201)
    }
}
