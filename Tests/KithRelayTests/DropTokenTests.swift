import Foundation
import HTTPTypes
import HummingbirdTesting
import KithCrypto
import KithNode
import KithProtocol
@testable import KithRelay
import NIOCore
import Testing

/// Drop tokens are per mailbox, and a drop names each mailbox once.
@Suite struct DropTokenTests {
    /// Two mailboxes registering the same token hash each get their own
    /// token: v1 keyed tokens by hash alone, so the second got 201 and nothing.
    @Test func theSameTokenHashWorksForTwoMailboxes() async throws {
        try await withLiveRelay { url, _ in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay)
            let carolKey = SigningKey()
            try await relay.register(mailboxKey: carolKey)
            try await relay.addToken(bob.token, mailboxKey: carolKey)
            let carol = DropRequest.Target(mailbox: carolKey.publicKey, token: bob.token)
            let env = envelopeBytes()
            #expect(try await relay.drop(DropRequest(targets: [bob.target, carol], envelope: env)).accepted == 2)
            #expect(try await relay.fetch(mailboxKey: carolKey, limit: 10).items.map(\.envelope) == [env])
            // Revoking it in one mailbox leaves the other's.
            try await relay.removeToken(bob.token, mailboxKey: bob.key)
            let result = try await relay.drop(DropRequest(targets: [bob.target, carol], envelope: envelopeBytes()))
            #expect(result.accepted == 1 && result.refused == [0])
        }
    }

    /// Tokens registered under v1 still open their mailboxes after v2.
    @Test func migrationKeepsTokens() async throws {
        let dir = NSTemporaryDirectory() + "kith-relay-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/relay.sqlite"
        let bob = TestMailbox()
        do {
            let old = try SQLiteRelayStore(path: path, migratingUpTo: "v1")
            _ = try await old.register(mailbox: bob.key.publicKey, now: 1)
            try await old.addToken(hash: DropToken.hash(bob.token), mailbox: bob.key.publicKey, now: 1)
        }
        let store = try SQLiteRelayStore(path: path)
        #expect(try await store.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes()), now: 2, ttl: 9).accepted == 1)
        // And the same hash can now be added to another mailbox.
        let carol = SigningKey().publicKey
        _ = try await store.register(mailbox: carol, now: 2)
        try await store.addToken(hash: DropToken.hash(bob.token), mailbox: carol, now: 2)
        let both = DropRequest(targets: [bob.target, .init(mailbox: carol, token: bob.token)], envelope: envelopeBytes())
        #expect(try await store.drop(both, now: 3, ttl: 9).accepted == 2)
    }

    /// A drop naming one mailbox twice once answered `accepted: 2`; it is malformed.
    @Test func aDropNamingAMailboxTwiceIsRefused() async throws {
        let store = try SQLiteRelayStore()
        try await withLiveRelay(store: store) { url, client in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay), carol = try await TestMailbox.make(relay)
            let twice = DropRequest(targets: [bob.target, carol.target, bob.target], envelope: envelopeBytes())
            #expect(throws: ProtocolError.self) { try DropRequest(bytes: twice.bytes) }
            let answer = try await client.execute(uri: "/v1/envelopes", method: .post, headers: [:], body: ByteBuffer(bytes: twice.bytes))
            #expect(answer.status == .badRequest)
            // Even with a different token the second time.
            let other = DropRequest.Target(mailbox: bob.key.publicKey, token: randomBytes(32))
            let mixed = DropRequest(targets: [bob.target, other], envelope: envelopeBytes())
            #expect(try await client.execute(uri: "/v1/envelopes", method: .post, headers: [:], body: ByteBuffer(bytes: mixed.bytes)).status == .badRequest)
            #expect(try await store.counts().bodies == 0)
        }
    }
}
