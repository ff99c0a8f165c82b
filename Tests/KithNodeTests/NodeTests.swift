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

let passphrase = Array("test passphrase".utf8)

func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "kith-test-" + Hex.encode(randomBytes(6))
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A live relay on a free port of 127.0.0.1 and a fresh directory, both gone afterwards.
func withRelayAndDirectory(_ body: @escaping @Sendable (_ relay: String, _ dir: String) async throws -> Void) async throws {
    var logger = Logger(label: "test.relay")
    logger.logLevel = .warning
    let app = buildRelayApplication(store: try SQLiteRelayStore(), configuration: RelayConfiguration(), host: "127.0.0.1", port: 0, logger: logger)
    let dir = temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try await app.test(.live) { client in try await body("http://127.0.0.1:\(client.port!)", dir) }
}

/// alice and bob, friends both ways, each with a mailbox on one live relay.
func withFriends(_ body: @escaping @Sendable (_ alice: Node, _ bob: Node, _ relay: String) async throws -> Void) async throws {
    try await withRelayAndDirectory { url, dir in
        let alice = try await Node.create(home: dir + "/alice", name: "alice", relays: [url], passphrase: passphrase, kdf: .interactive)
        let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
        try await bob.addFriend(cardText: try await alice.issueCard().text)
        try await alice.addFriend(cardText: try await bob.issueCard().text)
        try await body(alice, bob, url)
    }
}

@Suite struct NodeTests {
    @Test func aPostWaitsForItsAudienceKey() async throws {
        try await withFriends { alice, bob, relay in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            _ = try await alice.post(to: "family", text: "first")
            #expect(try await alice.sync().delivered == 2)

            // The relay hands bob the post before the key (as two relays might).
            let mailboxKey = try bob.requireKeys().mailboxKeys[relay]!
            let waiting = try await RelayClient(baseURL: relay).fetch(mailboxKey: mailboxKey, limit: 10)
            #expect(waiting.items.count == 2)
            let reversed = FetchedBatch(items: waiting.items.reversed(), more: false)
            var report = SyncReport()
            _ = try await bob.commit(FetchedBatch(items: [reversed.items[0]], more: false), from: relay, &report)
            try await bob.processPending(&report)
            #expect(report.fetched == 1 && report.waiting == 1 && report.newPosts == 0)
            #expect(try bob.feed().isEmpty)

            // The key arrives; the waiting post is opened.
            report = SyncReport()
            _ = try await bob.commit(reversed, from: relay, &report)
            #expect(report.fetched == 1 && report.newAudienceKeys == 1)
            try await bob.processPending(&report)
            #expect(report.newPosts == 1 && report.waiting == 0)
            #expect(try bob.feed().map(\.text) == ["first"])
        }
    }

    @Test func aRedeliveredEnvelopeIsShownOnce() async throws {
        try await withFriends { alice, bob, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            _ = try await alice.post(to: "family", text: "only once")
            let queued = try await alice.db.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT relay, request FROM outbox").map { ($0[0] as String, try alice.atRest.open($0[1], .request)) }
            }

            _ = try await alice.sync()
            #expect(try await bob.sync().newPosts == 1)
            // The relay gets the same uploads again (say alice's node crashed before it
            // recorded the relay's answer): bob fetches them again and drops them by id.
            for (relay, request) in queued { _ = try await RelayClient(baseURL: relay).drop(bytes: request) }
            let again = try await bob.sync()
            #expect(again.fetched == 0 && again.newPosts == 0)
            #expect(try bob.feed().count == 1)
        }
    }

    @Test func queuedDeliveriesWaitForTheirRetryTime() async throws {
        try await withFriends { alice, bob, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            // As after a failed attempt: the job is not due for another 100 s.
            let later = Int64(Node.now() + 100)
            try await alice.db.writer.write { db in try db.execute(sql: "UPDATE outbox SET attempts = 1, next_attempt_at = ?", arguments: [later]) }
            let early = try await alice.sync()
            #expect(early.delivered == 0 && early.deferred == 1 && early.nextRetryAt == UInt64(later))
            // Once the time has come (the node's clock moved on), it goes.
            let tomorrow = try Node.open(home: alice.home) { Node.now() + 86_400 }.unlock(passphrase: passphrase)
            let due = try await tomorrow.sync()
            #expect(due.delivered == 1 && due.deferred == 0 && due.nextRetryAt == nil)
            #expect(try await bob.sync().newAudienceKeys == 1)
        }
    }

    @Test func retryNowIgnoresTheSchedule() async throws {
        try await withFriends { alice, _, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            try await alice.db.writer.write { db in try db.execute(sql: "UPDATE outbox SET next_attempt_at = ?", arguments: [Int64(Node.now() + 3600)]) }
            #expect(try await alice.sync(retryNow: true).delivered == 1)
        }
    }

    @Test func backoffGrowsWithJitterToAnHour() {
        for _ in 0..<50 {
            #expect((2...5).contains(Node.backoff(attempt: 1)))
            #expect((20...40).contains(Node.backoff(attempt: 4)))
            #expect((1800...3600).contains(Node.backoff(attempt: 30)))
        }
    }

    @Test func membersOfOtherAudiencesReadNothing() async throws {
        try await withFriends { alice, bob, _ in
            try await alice.createAudience(name: "family")
            try await alice.createAudience(name: "work")
            try await alice.addMember(audience: "work", friend: "bob")
            _ = try await alice.post(to: "family", text: "family only")
            _ = try await alice.post(to: "work", text: "for work")
            _ = try await alice.sync()
            _ = try await bob.sync()
            #expect(try bob.feed().map(\.text) == ["for work"])
            #expect(try alice.feed().count == 2)
            #expect(try alice.audiences().map(\.members) == [[], ["bob"]])
        }
    }

    @Test func unknownNamesAreClearErrors() async throws {
        try await withFriends { alice, _, _ in
            let noGroup = await #expect(throws: NodeError.self) { try await alice.post(to: "nobody", text: "x") }
            #expect(noGroup?.description == "no audience named \"nobody\"")
            try await alice.createAudience(name: "family")
            let noFriend = await #expect(throws: NodeError.self) { try await alice.addMember(audience: "family", friend: "zed") }
            #expect(noFriend?.description == "no friend named \"zed\"")
            await #expect(throws: NodeError.self) { try await alice.createAudience(name: "family") }
            #expect(try alice.audiences().count == 1)
        }
    }
}

@Suite struct KeystoreTests {
    @Test func encryptedAtRestAndRefusesAWrongPassphrase() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let identity = SigningKey()
        let keys = Keystore(identity: identity, storageKey: SecretBytes(random: 32), encryptionKeys: [.init(key: BoxKey(), notAfter: 99)],
                            mailboxKeys: ["http://r": SigningKey()])
        let path = dir + "/keystore"
        try keys.write(to: path, passphrase: passphrase)
        let file = [UInt8](FileManager.default.contents(atPath: path)!)
        var seed = identity.exportSeed()
        defer { wipe(&seed) }
        #expect(!file.contains(seed))
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as! Int) == 0o600)

        let opened = try Keystore.open(path: path, passphrase: passphrase)
        #expect(opened.identity.publicKey == identity.publicKey)
        #expect(opened.mailboxKeys["http://r"]?.publicKey == keys.mailboxKeys["http://r"]?.publicKey)
        let wrong = #expect(throws: NodeError.self) { try Keystore.open(path: path, passphrase: Array("nope".utf8)) }
        #expect(wrong?.description.hasPrefix("wrong passphrase") == true)
    }

    /// A keystore file with no keys in a fresh directory, removed afterwards.
    func withKeystoreFile(_ body: (String) throws -> Void) throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/keystore"
        try Keystore(identity: SigningKey(), storageKey: SecretBytes(random: 32), encryptionKeys: [], mailboxKeys: [:])
            .write(to: path, passphrase: passphrase)
        try body(path)
    }

    @Test func refusesAKeystoreOthersCanRead() throws {
        try withKeystoreFile { path in
            chmod(path, 0o644)
            let error = #expect(throws: NodeError.self) { try Keystore.open(path: path, passphrase: passphrase) }
            #expect(error?.description.contains("accessible by other users") == true)
            #expect(error?.hint == "run: chmod 600 \(path)")
        }
    }

    @Test func refusesATamperedKeystore() throws {
        try withKeystoreFile { path in
            var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
            bytes[bytes.count - 3] ^= 1
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            chmod(path, 0o600)
            let error = #expect(throws: NodeError.self) { try Keystore.open(path: path, passphrase: passphrase) }
            #expect(error?.description.contains("damaged keystore") == true)
        }
    }
}

extension Array where Element == UInt8 {
    func contains(_ s: [UInt8]) -> Bool {
        guard s.count <= count else { return false }
        return (0...(count - s.count)).contains { Array(self[$0..<$0 + s.count]) == s }
    }
}
