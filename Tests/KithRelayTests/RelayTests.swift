import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KithCrypto
import KithNode
import KithProtocol
import KithRelay
import Logging
import NIOCore
import Testing

/// Runs `body` against a relay listening on a free port of 127.0.0.1.
func withLiveRelay(store: SQLiteRelayStore = try! SQLiteRelayStore(), configuration: RelayConfiguration = RelayConfiguration(),
                   _ body: @escaping @Sendable (String, any TestClientProtocol) async throws -> Void) async throws {
    var logger = Logger(label: "test.relay")
    logger.logLevel = .warning
    let app = buildRelayApplication(store: store, configuration: configuration, host: "127.0.0.1", port: 0, logger: logger)
    try await app.test(.live) { client in
        try await body("http://127.0.0.1:\(client.port!)", client)
    }
}

/// A post envelope of a valid size: `62 + bucket` bytes, the bucket a power of two from 512 to 65536.
func envelopeBytes(_ bucket: Int = 512) -> [UInt8] { Envelope(kind: .post, payload: randomBytes(56 + bucket)).bytes }

/// A registered mailbox with one drop token.
struct TestMailbox {
    let key = SigningKey()
    let token = randomBytes(32)
    var target: DropRequest.Target { .init(mailbox: key.publicKey, token: token) }

    static func make(_ client: RelayClient) async throws -> TestMailbox {
        let m = TestMailbox()
        try await client.register(mailboxKey: m.key)
        try await client.addToken(m.token, mailboxKey: m.key)
        return m
    }
}

@Suite struct RelayTests {
    @Test func registrationIsSignedAndIdempotent() async throws {
        let store = try SQLiteRelayStore()
        try await withLiveRelay(store: store) { url, client in
            let relay = RelayClient(baseURL: url)
            let key = SigningKey()
            try await relay.register(mailboxKey: key)
            try await relay.register(mailboxKey: key)
            #expect(try await store.counts().mailboxes == 1)
            // Owner requests for a mailbox that was never registered are refused.
            let failure = await #expect(throws: RelayClient.Failure.self) { try await relay.fetch(mailboxKey: SigningKey(), limit: 10) }
            #expect(failure?.description.contains("HTTP 404") == true)
        }
    }

    @Test func dropNeedsAValidTokenForEachMailbox() async throws {
        let store = try SQLiteRelayStore()
        try await withLiveRelay(store: store) { url, _ in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay), carol = try await TestMailbox.make(relay)
            let env = envelopeBytes()
            let bad = DropRequest.Target(mailbox: carol.key.publicKey, token: randomBytes(32))
            // A stranger's token is refused outright, and nothing is stored.
            let failure = await #expect(throws: RelayClient.Failure.self) { try await relay.drop(DropRequest(targets: [bad], envelope: env)) }
            #expect(failure?.permanent == true)
            #expect(try await store.counts().bodies == 0)
            // bob's token does not open carol's mailbox.
            let crossed = DropRequest.Target(mailbox: carol.key.publicKey, token: bob.token)
            let result = try await relay.drop(DropRequest(targets: [bob.target, crossed], envelope: env))
            #expect(result.accepted == 1 && result.refused == [1])
            #expect(try await relay.fetch(mailboxKey: bob.key, limit: 10).items.map(\.envelope) == [env])
            #expect(try await relay.fetch(mailboxKey: carol.key, limit: 10).items.isEmpty)
        }
    }

    @Test func revokingOneTokenLeavesTheOthersWorking() async throws {
        try await withLiveRelay { url, _ in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay)
            let carolsToken = randomBytes(32)
            try await relay.addToken(carolsToken, mailboxKey: bob.key)
            let carol = DropRequest.Target(mailbox: bob.key.publicKey, token: carolsToken)
            #expect(try await relay.drop(DropRequest(targets: [carol], envelope: envelopeBytes())).accepted == 1)

            try await relay.removeToken(carolsToken, mailboxKey: bob.key)
            let refused = await #expect(throws: RelayClient.Failure.self) {
                try await relay.drop(DropRequest(targets: [carol], envelope: envelopeBytes()))
            }
            #expect(refused?.description.contains("HTTP 403") == true)
            #expect(try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes())).accepted == 1)
            // Revoking a token the mailbox does not have is an error.
            let unknown = await #expect(throws: RelayClient.Failure.self) { try await relay.removeToken(carolsToken, mailboxKey: bob.key) }
            #expect(unknown?.description.contains("HTTP 404") == true)
        }
    }

    @Test func fetchAndAcknowledge() async throws {
        let store = try SQLiteRelayStore()
        try await withLiveRelay(store: store) { url, _ in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay)
            let envs = (0..<5).map { _ in envelopeBytes() }
            for e in envs { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: e)) }
            // Uploads are idempotent: the same envelope again is not a second delivery.
            _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envs[0]))
            let first = try await relay.fetch(mailboxKey: bob.key, limit: 3)
            #expect(first.items.map(\.envelope) == Array(envs[0..<3]) && first.more)
            try await relay.acknowledge(ids: first.items.map { Envelope.id(of: $0.envelope) }, mailboxKey: bob.key)
            let rest = try await relay.fetch(mailboxKey: bob.key, limit: 10)
            #expect(rest.items.map(\.envelope) == Array(envs[3...]) && !rest.more)
            try await relay.acknowledge(ids: rest.items.map { Envelope.id(of: $0.envelope) }, mailboxKey: bob.key)
            #expect(try await relay.fetch(mailboxKey: bob.key, limit: 10).items.isEmpty)
            #expect(try await store.counts() == .init(mailboxes: 1, bodies: 0, deliveries: 0, bodyBytes: 0))
        }
    }

    @Test func oneBodyForManyMailboxes() async throws {
        let store = try SQLiteRelayStore()
        try await withLiveRelay(store: store) { url, _ in
            let relay = RelayClient(baseURL: url)
            var boxes: [TestMailbox] = []
            for _ in 0..<150 { boxes.append(try await TestMailbox.make(relay)) }
            let env = envelopeBytes(1024)
            let result = try await relay.drop(DropRequest(targets: boxes.map(\.target), envelope: env))
            #expect(result.accepted == 150)
            let counts = try await store.counts()
            #expect(counts.bodies == 1 && counts.deliveries == 150 && counts.bodyBytes == env.count)
            // The body stays until the last mailbox has acknowledged it.
            for box in boxes.dropLast() { try await relay.acknowledge(ids: [Envelope.id(of: env)], mailboxKey: box.key) }
            #expect(try await store.counts().bodies == 1)
            try await relay.acknowledge(ids: [Envelope.id(of: env)], mailboxKey: boxes.last!.key)
            #expect(try await store.counts().bodies == 0)
        }
    }

    @Test func signedRequestsRefuseReplayTamperingAndStaleClocks() async throws {
        try await withLiveRelay { url, client in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay)
            let path = "/v1/mailboxes/\(Base64URL.encode(bob.key.publicKey))/envelopes?limit=10"
            func send(_ signed: SignedRequest, path: String = path) async throws -> HTTPResponse.Status {
                var headers = HTTPFields()
                for (name, value) in signed.headers { headers[HTTPField.Name(name)!] = value }
                return try await client.execute(uri: path, method: .get, headers: headers, body: nil).status
            }
            let now = UInt64(Date().timeIntervalSince1970)
            let signed = SignedRequest(method: "GET", path: path, body: [], mailboxKey: bob.key, timestamp: now)
            #expect(try await send(signed) == .ok)
            #expect(try await send(signed) == .conflict)
            // Signed for another path: the limit was changed in transit.
            let other = SignedRequest(method: "GET", path: path, body: [], mailboxKey: bob.key, timestamp: now)
            #expect(try await send(other, path: path.replacingOccurrences(of: "limit=10", with: "limit=11")) == .unauthorized)
            // Signed by a key that is not the mailbox's.
            let stranger = SignedRequest(method: "GET", path: path, body: [], mailboxKey: SigningKey(), timestamp: now)
            #expect(try await send(stranger) == .unauthorized)
            let stale = SignedRequest(method: "GET", path: path, body: [], mailboxKey: bob.key, timestamp: now - 1000)
            #expect(try await send(stale) == .unauthorized)
            #expect(try await client.execute(uri: path, method: .get, headers: [:], body: nil).status == .unauthorized)
        }
    }

    @Test func policyLimitsAndBadInput() async throws {
        var config = RelayConfiguration()
        config.maxEnvelopeBytes = 2048
        try await withLiveRelay(configuration: config) { url, client in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay)
            let big = await #expect(throws: RelayClient.Failure.self) {
                try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes(4096)))
            }
            #expect(big?.description.contains("HTTP 413") == true)
            let garbage = try await client.execute(uri: "/v1/envelopes", method: .post, headers: [:], body: ByteBuffer(bytes: [1, 2, 3]))
            #expect(garbage.status == .badRequest)
            let notAnEnvelope = DropRequest(targets: [bob.target], envelope: Array("plain text".utf8)).bytes
            #expect(try await client.execute(uri: "/v1/envelopes", method: .post, headers: [:], body: ByteBuffer(bytes: notAnEnvelope)).status == .badRequest)
        }
    }

    @Test func expiredEnvelopesAreCollected() async throws {
        let store = try SQLiteRelayStore()
        let bob = TestMailbox()
        _ = try await store.register(mailbox: bob.key.publicKey, now: 100)
        try await store.addToken(hash: DropToken.hash(bob.token), mailbox: bob.key.publicKey, now: 100)
        _ = try await store.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes()), now: 100, ttl: 50)
        _ = try await store.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes()), now: 120, ttl: 50)
        #expect(try await store.collectGarbage(now: 160) == 1)
        #expect(try await store.counts().deliveries == 1)
        #expect(try await store.fetch(mailbox: bob.key.publicKey, limit: 10).items.count == 1)
    }

    @Test func batchesAreBoundedInBytes() async throws {
        let store = try SQLiteRelayStore()
        let bob = TestMailbox()
        _ = try await store.register(mailbox: bob.key.publicKey, now: 1)
        try await store.addToken(hash: DropToken.hash(bob.token), mailbox: bob.key.publicKey, now: 1)
        for _ in 0..<5 { _ = try await store.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes(1024)), now: 1, ttl: 99) }
        let batch = try await store.fetch(mailbox: bob.key.publicKey, limit: 10, maxBytes: 2500)
        #expect(batch.items.count == 2 && batch.more)
        // One envelope larger than the byte bound still comes, alone.
        let single = try await store.fetch(mailbox: bob.key.publicKey, limit: 10, maxBytes: 10)
        #expect(single.items.count == 1 && single.more)
        #expect(try await store.fetch(mailbox: bob.key.publicKey, limit: 5).more == false)
    }
}
