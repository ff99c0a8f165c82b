import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
@testable import KithNode
import KithProtocol
import KithRelay
import Logging
import Testing

/// A relay's limits as a node meets them: 429, 503 and 507 mean "try again
/// later", and the node waits at least as long as the relay asks.
@Suite struct RelayLimitTests {
    /// alice and bob, friends both ways, on one live relay with this policy.
    static func withFriends(on configuration: RelayConfiguration,
                            _ body: @escaping @Sendable (_ alice: Node, _ bob: Node) async throws -> Void) async throws {
        var logger = Logger(label: "test.relay")
        logger.logLevel = .warning
        let app = buildRelayApplication(store: try SQLiteRelayStore(), configuration: configuration, host: "127.0.0.1", port: 0, logger: logger)
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await app.test(.live) { client in
            let url = "http://127.0.0.1:\(client.port!)"
            let alice = try await Node.create(home: dir + "/alice", name: "alice", relays: [url], passphrase: passphrase, kdf: .interactive)
            let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            try await bob.addFriend(cardText: try await alice.issueCard().text)
            try await alice.addFriend(cardText: try await bob.issueCard().text)
            try await body(alice, bob)
        }
    }

    /// carol, on alice's relay, friends both ways with alice.
    static func carol(friendOf alice: Node) async throws -> Node {
        let url = try await alice.db.writer.read { db in try String.fetchOne(db, sql: "SELECT relay FROM mailbox")! }
        let carol = try await Node.create(home: (alice.home as NSString).deletingLastPathComponent + "/carol", name: "carol", relays: [url],
                                          passphrase: passphrase, kdf: .interactive)
        try await carol.addFriend(cardText: try await alice.issueCard().text)
        try await alice.addFriend(cardText: try await carol.issueCard().text)
        return carol
    }

    /// bob keeps his mailbox full: alice's posts to him wait, and her posts
    /// to others on the same relay (and her later jobs there) still go.
    @Test func aFullMailboxHoldsUpOnlyWhatIsForIt() async throws {
        var configuration = RelayConfiguration()
        configuration.quota = MailboxQuota(bytes: 1 << 20, envelopes: 2)
        try await Self.withFriends(on: configuration) { alice, bob in
            let carol = try await Self.carol(friendOf: alice)
            try await alice.createAudience(name: "bob's")
            try await alice.addMember(audience: "bob's", friend: "bob")
            _ = try await alice.post(to: "bob's", text: "fills bob's mailbox")
            _ = try await alice.post(to: "bob's", text: "waits for room")
            try await alice.createAudience(name: "carol's")
            try await alice.addMember(audience: "carol's", friend: "carol")
            _ = try await alice.post(to: "carol's", text: "goes at once")
            // Jobs in order: bob's key and first post (his mailbox is then full), his second post, carol's key and post.
            let report = try await alice.sync()
            #expect(report.delivered == 4 && report.retrying == 1, "\(report)")
            #expect(report.fetchFailures == 0 && report.fetches.allSatisfy { $0.state != .failed }, "alice still fetches her own mail")
            #expect(try await carol.sync().newPosts == 1, "carol's post went past bob's full mailbox")
            #expect(try await bob.sync().newPosts == 1)
            #expect(try await alice.sync(retryNow: true).delivered == 1)
            #expect(try await bob.sync().newPosts == 1)
        }
    }

    /// A post to bob and carol while bob's mailbox is full: the relay stores
    /// it for carol at once, and alice's outbox keeps it for bob alone.
    @Test func anUploadWaitsOnlyForItsFullMailboxes() async throws {
        var configuration = RelayConfiguration()
        configuration.quota = MailboxQuota(bytes: 1 << 20, envelopes: 2)
        configuration.mailboxFullRetryAfter = 900
        try await Self.withFriends(on: configuration) { alice, bob in
            let carol = try await Self.carol(friendOf: alice)
            try await alice.createAudience(name: "bob's")
            try await alice.addMember(audience: "bob's", friend: "bob")
            _ = try await alice.post(to: "bob's", text: "fills bob's mailbox")
            try await alice.createAudience(name: "both")
            try await alice.addMember(audience: "both", friend: "bob")
            try await alice.addMember(audience: "both", friend: "carol")
            _ = try await alice.post(to: "both", text: "for both")
            let before = Node.now()
            let first = try await alice.sync()
            #expect(first.retrying >= 1 && first.deliveries.first?.error?.contains("full") == true, "\(first)")
            #expect(try await carol.sync().newPosts == 1, "the post reached carol although bob's mailbox was full")

            // What waits names bob's mailbox alone, not before the relay's Retry-After.
            let bobsMailbox = try await bob.db.writer.read { db in try Data.fetchOne(db, sql: "SELECT mailbox FROM mailbox")! }
            let atRest = try alice.atRest
            let waiting = try await alice.db.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT request, next_attempt_at FROM outbox WHERE state = 'queued'").map {
                    (try DropRequest(bytes: try atRest.open($0[0], .request)), $0[1] as Int64)
                }
            }
            #expect(!waiting.isEmpty)
            for (request, next) in waiting {
                #expect(request.targets.list.map { Data($0.mailbox) } == [bobsMailbox])
                #expect(next >= Int64(before + 900))
            }

            // As bob fetches, which makes room, what waited goes to him (two at a time), and carol gets nothing twice.
            var posts = try await bob.sync().newPosts
            #expect(posts == 1)
            for _ in 0..<waiting.count {
                _ = try await alice.sync(retryNow: true)
                posts += try await bob.sync().newPosts
            }
            #expect(posts == 2)
            #expect(try await alice.db.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox")! } == 0)
            #expect(try await carol.sync().fetched == 0)
        }
    }

    @Test func aFullMailboxIsRetriedLaterNotRefused() async throws {
        var configuration = RelayConfiguration()
        configuration.quota = MailboxQuota(bytes: 1 << 20, envelopes: 1)
        configuration.mailboxFullRetryAfter = 900
        try await Self.withFriends(on: configuration) { alice, bob in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            _ = try await alice.post(to: "family", text: "when there is room")
            // The key message fills bob's mailbox; the post waits.
            let before = Node.now()
            let first = try await alice.sync()
            #expect(first.delivered == 1 && first.retrying == 1)
            #expect(first.deliveries.first?.error?.contains("full") == true)
            let (state, next) = try await alice.db.writer.read { db in
                try Row.fetchOne(db, sql: "SELECT state, next_attempt_at FROM outbox").map { ($0[0] as String, $0[1] as Int64) }
            }!
            #expect(state == "queued")
            // Not before the relay's Retry-After, far beyond the first backoff of at most 5 s.
            #expect(next >= Int64(before + 900) && next <= Int64(Node.now() + 900))

            // bob fetches, which makes room; the post then goes.
            #expect(try await bob.sync().newAudienceKeys == 1)
            #expect(try await alice.sync(retryNow: true).delivered == 1)
            #expect(try await bob.sync().newPosts == 1)
        }
    }

    @Test func aRelaysRetryAfterIsHonouredUpToAnHour() {
        for _ in 0..<20 {
            #expect(Node.retryTime(after: 1000, attempt: 0, notBefore: 120) == 1120)
            #expect(Node.retryTime(after: 1000, attempt: 0, notBefore: 86_400) == 1000 + 3600)
            #expect((1002...1005).contains(Node.retryTime(after: 1000, attempt: 0, notBefore: nil)))
            #expect((1002...1005).contains(Node.retryTime(after: 1000, attempt: 0, notBefore: 1)))
        }
    }
}
