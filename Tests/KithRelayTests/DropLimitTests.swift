import Foundation
import GRDB
import HTTPTypes
import HummingbirdTesting
import KithCrypto
import KithNode
import KithProtocol
@testable import KithRelay
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// Quotas per mailbox, rate limits per token and per address, and the time
/// to live of what waits: a drop over a limit is refused with 413, 429 or
/// 507, and nothing already accepted is ever dropped.
@Suite struct DropLimitTests {
    static func refusal(_ operation: () async throws -> Void) async -> RelayClient.Failure? {
        do { try await operation(); return nil } catch let failure as RelayClient.Failure { return failure } catch { return nil }
    }

    static var unlimitedRates: RelayConfiguration {
        var configuration = RelayConfiguration()
        configuration.tokenRate = nil
        configuration.addressRate = nil
        return configuration
    }

    @Test func aFullMailboxIsLeftOutAndNamedInTheAnswer() async throws {
        let store = try SQLiteRelayStore()
        var configuration = Self.unlimitedRates
        configuration.quota = MailboxQuota(bytes: 1 << 20, envelopes: 3)
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay), carol = try await TestMailbox.make(relay)
            let envs = (0..<3).map { _ in envelopeBytes() }
            for e in envs { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: e)) }
            // The same envelope again is no new reference, so it is not over the quota.
            #expect(try await relay.drop(DropRequest(targets: [bob.target], envelope: envs[0])).accepted == 1)
            // A drop for carol and the full bob is stored for carol; the answer names bob's target as full.
            let shared = envelopeBytes()
            let partial = try await relay.drop(DropRequest(targets: [carol.target, bob.target], envelope: shared))
            #expect(partial == DropResult(id: Hex.encode(Envelope.id(of: shared)), accepted: 1, refused: [], full: [1], retryAfter: 600))
            #expect(try await relay.fetch(mailboxKey: carol.key, limit: 10).items.map(\.envelope) == [shared])
            // A drop for bob alone stores nothing: 507, to be tried again later.
            let full = await Self.refusal { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes())) }
            #expect(full?.status == 507 && full?.code == "mailbox_full" && full?.permanent == false)
            #expect(full?.retryAfter == 600)
            #expect(full?.reason.contains("target 0") == true)
            #expect(try await store.counts().bodies == 4)
            // Nothing accepted was dropped; once bob acknowledges, there is room again for what he missed.
            let waiting = try await relay.fetch(mailboxKey: bob.key, limit: 10)
            #expect(waiting.items.map(\.envelope) == envs)
            try await relay.acknowledge(ids: [Envelope.id(of: envs[0])], mailboxKey: bob.key)
            #expect(try await relay.drop(DropRequest(targets: [bob.target], envelope: shared)) == DropResult(id: partial.id, accepted: 1, refused: []))
            #expect(try await relay.fetch(mailboxKey: bob.key, after: waiting.items.last!.sequence, limit: 10).items.map(\.envelope) == [shared])
        }
    }

    @Test func theQuotaCountsBytes() async throws {
        let store = try SQLiteRelayStore()
        let bob = TestMailbox()
        _ = try await store.register(mailbox: bob.key.publicKey, now: 1)
        try await store.addToken(hash: DropToken.hash(bob.token), mailbox: bob.key.publicKey, now: 1)
        let quota = MailboxQuota(bytes: 3 * (62 + 1024), envelopes: 100)
        for _ in 0..<3 { _ = try await store.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes(1024)), now: 1, ttl: 99, quota: quota) }
        await #expect(throws: MailboxFull(target: 0)) {
            try await store.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes(512)), now: 1, ttl: 99, quota: quota)
        }
        #expect(try await store.usage(of: bob.key.publicKey)! == (3, 3 * 1086))
    }

    /// Quotas are checked in the transaction that stores a drop, so drops
    /// racing for the last places never take a mailbox over its quota.
    @Test func concurrentDropsDoNotOvershootTheQuota() async throws {
        let store = try SQLiteRelayStore()
        var configuration = Self.unlimitedRates
        configuration.quota = MailboxQuota(bytes: 1 << 20, envelopes: 5)
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<30 {
                    group.addTask {
                        // A drop whose answer was lost (a loaded machine) is sent again, as a node does:
                        // uploads are idempotent, so it is counted once either way.
                        let drop = DropRequest(targets: [bob.target], envelope: envelopeBytes())
                        for _ in 0..<3 {
                            do { _ = try await relay.drop(drop); return 200 } catch let failure as RelayClient.Failure {
                                if let status = failure.status { return status }
                            }
                        }
                        return 0
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 200 }.count == 5, "\(statuses)")
            #expect(statuses.filter { $0 == 507 }.count == 25, "\(statuses)")
            #expect(try await store.usage(of: bob.key.publicKey)?.envelopes == 5)
            #expect(try await store.counts().deliveries == 5)
        }
    }

    @Test func dropsOverATokensRateGet429() async throws {
        var configuration = RelayConfiguration()
        // So slow that no drop comes back during the test, however loaded the machine.
        configuration.tokenRate = RateLimit(perSecond: 0.001, burst: 3)
        try await withLiveRelay(configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay), carol = try await TestMailbox.make(relay)
            for _ in 0..<3 { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes())) }
            let limited = await Self.refusal { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes())) }
            #expect(limited?.status == 429 && limited?.code == "token_rate_limited" && limited?.permanent == false)
            // 1,000 s for a whole drop at 0.001 a second (less as the bucket refills).
            #expect((500...1000).contains(limited?.retryAfter ?? 0))
            // Another token is not held up; a drop naming both is.
            _ = try await relay.drop(DropRequest(targets: [carol.target], envelope: envelopeBytes()))
            let both = await Self.refusal { _ = try await relay.drop(DropRequest(targets: [carol.target, bob.target], envelope: envelopeBytes())) }
            #expect(both?.status == 429)
        }
    }

    /// A token whose mailbox is full is still counted, though it never had a
    /// drop stored: drops into a full mailbox, alone (507) or beside one with
    /// room (200), cannot be sent faster than the token's rate.
    @Test func dropsIntoAFullMailboxAreCountedAgainstTheirToken() async throws {
        var configuration = RelayConfiguration()
        configuration.addressRate = nil
        configuration.tokenRate = RateLimit(perSecond: 0.001, burst: 2)
        configuration.quota = MailboxQuota(bytes: 1 << 20, envelopes: 1)
        try await withLiveRelay(configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay), dave = try await TestMailbox.make(relay)
            // Another friend's token fills bob's mailbox.
            let friend = randomBytes(32)
            try await relay.addToken(friend, mailboxKey: bob.key)
            _ = try await relay.drop(DropRequest(targets: [.init(mailbox: bob.key.publicKey, token: friend)], envelope: envelopeBytes()))
            // bob's token: named full beside dave's room (200), refused as full alone (507), then limited.
            let mixed = try await relay.drop(DropRequest(targets: [dave.target, bob.target], envelope: envelopeBytes()))
            #expect(mixed.full == [1])
            #expect(await Self.refusal { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes())) }?.status == 507)
            let limited = await Self.refusal { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes())) }
            #expect(limited?.status == 429 && limited?.code == "token_rate_limited", "\(String(describing: limited))")
        }
    }

    @Test func dropsOverAnAddressRateGet429() async throws {
        var configuration = RelayConfiguration()
        configuration.addressRate = RateLimit(perSecond: 0.001, burst: 2)
        try await withLiveRelay(configuration: configuration) { url, client in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay)
            for _ in 0..<2 { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes())) }
            let limited = await Self.refusal { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes())) }
            #expect(limited?.status == 429 && limited?.code == "address_rate_limited")
            #expect((500...1000).contains(limited?.retryAfter ?? 0))
            // Even a malformed drop counts: the address is checked before the body is read.
            let answer = try await client.execute(uri: "/v1/envelopes", method: .post, headers: [:], body: ByteBuffer(bytes: [1, 2, 3]))
            #expect(answer.status == .tooManyRequests)
            #expect((500...1000).contains(answer.headers[.retryAfter].flatMap { Int($0) } ?? 0))
            // Owner requests are not drops.
            #expect(try await relay.fetch(mailboxKey: bob.key, limit: 10).items.count == 2)
        }
    }

    @Test func anOversizedEnvelopeGets413WithACode() async throws {
        var configuration = RelayConfiguration()
        configuration.maxEnvelopeBytes = 2048
        try await withLiveRelay(configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay)
            let big = await Self.refusal { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes(4096))) }
            #expect(big?.status == 413 && big?.code == "envelope_too_large" && big?.permanent == true)
        }
    }

    /// Buckets for a flood of new keys stay within their room, forgetting
    /// the idle ones first.
    @Test func tokenBucketsAreBounded() {
        let buckets = TokenBuckets<Int>(rate: RateLimit(perSecond: 1, burst: 2), capacity: 100)
        #expect(buckets.take([1, 1], now: 0) == nil)
        #expect(buckets.take([1], now: 0) == 1)
        #expect(buckets.take([1], now: 1) == nil)
        for key in 2..<10_000 { _ = buckets.take([key], now: 1 + Double(key) / 1000) }
        #expect(buckets.count <= 100)
        // Idle buckets (refilled) go first: after a pause, one new key frees them all.
        _ = buckets.take([-1], now: 1000)
        #expect(buckets.count <= 100)
        #expect(buckets.take([20_000, 20_001], now: 1001) == nil)
        #expect(buckets.count <= 3)
    }

    @Test func addressesAreCountedByHostOrSlash64() {
        #expect(DropRateLimiter.addressKey("192.0.2.1") == [192, 0, 2, 1])
        #expect(DropRateLimiter.addressKey("::ffff:192.0.2.1") == [192, 0, 2, 1])
        #expect(DropRateLimiter.addressKey("2001:db8:1:2::1") == DropRateLimiter.addressKey("2001:db8:1:2:ffff::9"))
        #expect(DropRateLimiter.addressKey("2001:db8:1:2::1") != DropRateLimiter.addressKey("2001:db8:1:3::1"))
    }

    /// Each reference expires 30 days (by default) after it was accepted; the
    /// collector deletes expired references, then bodies nothing references.
    @Test func referencesExpireAndTheirBodiesFollow() async throws {
        let store = try SQLiteRelayStore()
        // Signed requests must be near the real clock, so it starts there.
        let t0 = UInt64(Date().timeIntervalSince1970)
        let now = NIOLockedValueBox<UInt64>(t0)
        var configuration = Self.unlimitedRates
        configuration.clock = { now.withLockedValue { $0 } }
        #expect(configuration.ttlSeconds == 30 * 86_400)
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay), carol = try await TestMailbox.make(relay)
            let shared = envelopeBytes(), bobs = envelopeBytes()
            _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: shared))
            _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: bobs))
            // carol receives the same envelope a day later: her reference lives a day longer.
            now.withLockedValue { $0 += 86_400 }
            _ = try await relay.drop(DropRequest(targets: [carol.target], envelope: shared))

            let early = try await store.collect(now: t0 + 30 * 86_400 - 1)
            #expect(early.references == 0 && early.bodies == 0)
            let first = try await store.collect(now: t0 + 30 * 86_400, batch: 1)
            // Bob's two bodies go; carol's copy came in a drop of its own, so it is a body of its own.
            #expect(first.references == 2 && first.bodies == 2)
            #expect(try await store.counts().bodies == 1)
            #expect(try await store.usage(of: bob.key.publicKey)! == (0, 0))
            #expect(try await store.fetch(mailbox: carol.key.publicKey, limit: 10).items.map(\.envelope) == [shared])
            #expect(try await store.collect(now: t0 + 31 * 86_400).bodies == 1)
            #expect(try await store.counts() == .init(mailboxes: 2, bodies: 0, deliveries: 0, bodyBytes: 0))
        }
    }

    /// A relay from before v3 keeps each reference's expiry and counts it.
    @Test func migrationCountsWhatWaits() async throws {
        let dir = NSTemporaryDirectory() + "kith-relay-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bob = TestMailbox()
        do {
            let old = try SQLiteRelayStore(path: dir + "/relay.sqlite", migratingUpTo: "v2")
            _ = try await old.register(mailbox: bob.key.publicKey, now: 1)
            try await old.addToken(hash: DropToken.hash(bob.token), mailbox: bob.key.publicKey, now: 1)
            try await old.writer.write { db in
                for (i, env) in [envelopeBytes(), envelopeBytes(1024)].enumerated() {
                    try db.execute(sql: "INSERT INTO body (id, data, created_at, expires_at) VALUES (?, ?, 1, ?)",
                                   arguments: [Data(Envelope.id(of: env)), Data(env), 100 + i])
                    try db.execute(sql: "INSERT INTO delivery (mailbox, body_id, received_at) VALUES (?, ?, 1)",
                                   arguments: [Data(bob.key.publicKey), Data(Envelope.id(of: env))])
                }
            }
        }
        let store = try SQLiteRelayStore(path: dir + "/relay.sqlite")
        #expect(try await store.usage(of: bob.key.publicKey)! == (2, 574 + 1086))
        #expect(try await store.collect(now: 100) == CollectedGarbage(references: 1, bodies: 1, nonces: 0))
        #expect(try await store.usage(of: bob.key.publicKey)! == (1, 1086))
    }

    /// A relay from before v4 (bodies keyed by their hash) keeps every
    /// waiting envelope, its sequence number and its count, and never issues
    /// a sequence number again: a node's fetch position stays valid.
    @Test func arrivalOrderMigrationKeepsEnvelopesAndSequence() async throws {
        let dir = NSTemporaryDirectory() + "kith-relay-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bob = TestMailbox(), carol = TestMailbox()
        let shared = envelopeBytes(), own = envelopeBytes(1024), acknowledged = envelopeBytes()
        do {
            let old = try SQLiteRelayStore(path: dir + "/relay.sqlite", migratingUpTo: "v3")
            for m in [bob, carol] {
                _ = try await old.register(mailbox: m.key.publicKey, now: 1)
                try await old.addToken(hash: DropToken.hash(m.token), mailbox: m.key.publicKey, now: 1)
            }
            try await old.writer.write { db in
                for (env, boxes) in [(shared, [bob, carol]), (own, [bob]), (acknowledged, [bob])] {
                    try db.execute(sql: "INSERT INTO body (id, data, created_at, expires_at) VALUES (?, ?, 1, 1000)",
                                   arguments: [Data(Envelope.id(of: env)), Data(env)])
                    for m in boxes {
                        try db.execute(sql: "INSERT INTO delivery (mailbox, body_id, received_at, size, expires_at) VALUES (?, ?, 1, ?, 1000)",
                                       arguments: [Data(m.key.publicKey), Data(Envelope.id(of: env)), env.count])
                    }
                }
            }
            try await old.writer.write { db in
                try db.execute(sql: "DELETE FROM delivery WHERE body_id = ?", arguments: [Data(Envelope.id(of: acknowledged))])
                try db.execute(sql: "DELETE FROM body WHERE id = ?", arguments: [Data(Envelope.id(of: acknowledged))])
            }
        }
        let store = try SQLiteRelayStore(path: dir + "/relay.sqlite")
        let waiting = try await store.fetch(mailbox: bob.key.publicKey, limit: 10).items
        #expect(waiting.map(\.envelope) == [shared, own])
        #expect(waiting.map(\.sequence) == [1, 3])
        #expect(try await store.fetch(mailbox: carol.key.publicKey, limit: 10).items.map(\.sequence) == [2])
        #expect(try await store.usage(of: bob.key.publicKey)! == (2, shared.count + own.count))
        #expect(try await store.counts() == .init(mailboxes: 2, bodies: 2, deliveries: 3, bodyBytes: shared.count + own.count))
        // The fourth sequence number was issued before: the next drop gets the fifth.
        let next = envelopeBytes()
        _ = try await store.drop(DropRequest(targets: [bob.target], envelope: next), now: 2, ttl: 1000, quota: nil)
        #expect(try await store.fetch(mailbox: bob.key.publicKey, after: 3, limit: 10).items.map(\.sequence) == [5])
        // The shared body goes only when its last reference does.
        #expect(try await store.acknowledge(mailbox: bob.key.publicKey, ids: [Envelope.id(of: shared)]) == 1)
        #expect(try await store.counts().bodies == 3)
        #expect(try await store.acknowledge(mailbox: carol.key.publicKey, ids: [Envelope.id(of: shared)]) == 1)
        #expect(try await store.counts().bodies == 2)
    }
}

extension DropLimitTests {
    /// Invented drop tokens get no rate bucket, so naming many of them cannot
    /// make the relay forget a real token's spent bucket.
    @Test func junkTokensDoNotFlushARealTokensBucket() async throws {
        var configuration = RelayConfiguration()
        configuration.tokenRate = RateLimit(perSecond: 0.001, burst: 2)
        configuration.rateLimitEntries = 8
        try await withLiveRelay(configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay)
            for _ in 0..<2 { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes())) }
            let spent = await Self.refusal { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes())) }
            #expect(spent?.code == "token_rate_limited")
            for _ in 0..<10 {
                let junk = (0..<20).map { _ in DropRequest.Target(mailbox: randomBytes(32), token: randomBytes(32)) }
                let refused = await Self.refusal { _ = try await relay.drop(DropRequest(targets: junk, envelope: envelopeBytes())) }
                #expect(refused?.code == "no_valid_token")
            }
            let still = await Self.refusal { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes())) }
            #expect(still?.code == "token_rate_limited")
        }
    }
}
