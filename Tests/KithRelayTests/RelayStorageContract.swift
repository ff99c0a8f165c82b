import Foundation
import KithCrypto
import KithProtocol
import KithRelay
import Testing

/// One way to make a fresh, empty store. Each implementation of
/// `RelayStorage` adds its own here, and passes every test of the contract.
struct StoreFactory: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable () async throws -> (store: any RelayStorage, cleanup: @Sendable () async -> Void)

    var testDescription: String { name }

    static let all: [StoreFactory] = [
        StoreFactory(name: "SQLite in memory") { (try SQLiteRelayStore(), {}) },
        StoreFactory(name: "SQLite on disk") {
            let dir = NSTemporaryDirectory() + "kith-store-" + UUID().uuidString.prefix(8)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            return (try SQLiteRelayStore(path: dir + "/relay.sqlite"), { try? FileManager.default.removeItem(atPath: dir) })
        },
        // A database of its own on the server scripts/with-postgres.sh starts.
        StoreFactory(name: "PostgreSQL") {
            let (store, cleanup) = try await TestPostgres.store()
            return (store, cleanup)
        },
    ]
}

/// What the relay's routes rely on from their store, whatever the engine.
@Suite struct RelayStorageContract {
    /// A mailbox registered in `store`, with one drop token.
    struct Box {
        let id = randomBytes(32)
        let token = randomBytes(32)
        var target: DropRequest.Target { .init(mailbox: id, token: token) }

        static func make(_ store: any RelayStorage, now: UInt64 = 1) async throws -> Box {
            let box = Box()
            #expect(try await store.register(mailbox: box.id, now: now))
            try await store.addToken(hash: DropToken.hash(box.token), mailbox: box.id, now: now)
            return box
        }
    }

    static func with(_ factory: StoreFactory, _ body: (any RelayStorage) async throws -> Void) async throws {
        let (store, cleanup) = try await factory.make()
        do {
            try await body(store)
        } catch {
            await cleanup()
            throw error
        }
        await cleanup()
    }

    @Test(arguments: StoreFactory.all) func registrationIsIdempotent(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let id = randomBytes(32)
            #expect(try await !store.mailboxExists(id))
            #expect(try await store.register(mailbox: id, now: 1))
            #expect(try await !store.register(mailbox: id, now: 2))
            #expect(try await store.mailboxExists(id))
            #expect(try await store.counts().mailboxes == 1)
        }
    }

    @Test(arguments: StoreFactory.all) func dropsAreIdempotentAndStoredOnce(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let bob = try await Box.make(store), carol = try await Box.make(store)
            let env = envelopeBytes()
            let first = try await store.drop(DropRequest(targets: [bob.target, carol.target], envelope: env), now: 10, ttl: 100)
            #expect(first == DropResult(id: Data(Envelope.id(of: env)).map { String(format: "%02x", $0) }.joined(), accepted: 2, refused: []))
            let again = try await store.drop(DropRequest(targets: [bob.target], envelope: env), now: 11, ttl: 100)
            #expect(again.accepted == 1)
            #expect(try await store.counts() == RelayCounts(mailboxes: 2, bodies: 1, deliveries: 2, bodyBytes: env.count))
            #expect(try await store.usage(of: bob.id)! == (1, env.count))
            #expect(try await store.fetch(mailbox: bob.id, limit: 10).items.map(\.envelope) == [env])
        }
    }

    @Test(arguments: StoreFactory.all) func onlyAValidTokenOpensAMailbox(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let bob = try await Box.make(store), carol = try await Box.make(store)
            let crossed = DropRequest.Target(mailbox: carol.id, token: bob.token)
            let unknown = DropRequest.Target(mailbox: randomBytes(32), token: bob.token)
            let result = try await store.drop(DropRequest(targets: [crossed, bob.target, unknown], envelope: envelopeBytes()), now: 1, ttl: 100)
            #expect(result.accepted == 1 && result.refused == [0, 2])
            let none = try await store.drop(DropRequest(targets: [crossed], envelope: envelopeBytes()), now: 1, ttl: 100)
            #expect(none.accepted == 0 && none.refused == [0])
            #expect(try await store.counts().bodies == 1)
        }
    }

    @Test(arguments: StoreFactory.all) func revokingATokenClosesOnlyIt(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let bob = try await Box.make(store)
            let other = randomBytes(32)
            try await store.addToken(hash: DropToken.hash(other), mailbox: bob.id, now: 1)
            #expect(try await store.removeToken(hash: DropToken.hash(bob.token), mailbox: bob.id))
            #expect(try await !store.removeToken(hash: DropToken.hash(bob.token), mailbox: bob.id))
            let refused = try await store.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes()), now: 1, ttl: 100)
            #expect(refused.accepted == 0)
            let accepted = try await store.drop(DropRequest(targets: [.init(mailbox: bob.id, token: other)], envelope: envelopeBytes()), now: 1, ttl: 100)
            #expect(accepted.accepted == 1)
        }
    }

    @Test(arguments: StoreFactory.all) func fetchIsInOrderAndPages(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let bob = try await Box.make(store)
            let envelopes = (0..<7).map { _ in envelopeBytes() }
            for (i, env) in envelopes.enumerated() {
                _ = try await store.drop(DropRequest(targets: [bob.target], envelope: env), now: 100 + UInt64(i), ttl: 1000)
            }
            let first = try await store.fetch(mailbox: bob.id, limit: 3)
            #expect(first.items.map(\.envelope) == Array(envelopes[0..<3]) && first.more)
            #expect(first.items.map(\.receivedAt) == [100, 101, 102])
            #expect(zip(first.items, first.items.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
            let rest = try await store.fetch(mailbox: bob.id, after: first.items.last!.sequence, limit: 10)
            #expect(rest.items.map(\.envelope) == Array(envelopes[3...]) && !rest.more)
            // A byte limit stops a batch early, but never below one envelope.
            let small = try await store.listBatch(mailbox: bob.id, after: 0, limit: 10, maxBytes: 1)
            #expect(small.entries.count == 1 && small.more)
            #expect(small.entries[0].length == envelopes[0].count)
            #expect(try await store.readPage(mailbox: bob.id, small.entries[...]) == [envelopes[0]])
            #expect(try await store.fetch(mailbox: randomBytes(32), limit: 10).items.isEmpty)
        }
    }

    @Test(arguments: StoreFactory.all) func acknowledgingDeletesAndAListedBodyVanishes(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let bob = try await Box.make(store), carol = try await Box.make(store)
            let shared = envelopeBytes(), own = envelopeBytes()
            _ = try await store.drop(DropRequest(targets: [bob.target, carol.target], envelope: shared), now: 1, ttl: 100)
            _ = try await store.drop(DropRequest(targets: [bob.target], envelope: own), now: 1, ttl: 100)
            let listing = try await store.listBatch(mailbox: bob.id, after: 0, limit: 10, maxBytes: 1 << 20)
            // carol's acknowledgement removes only her reference; the shared body stays for bob.
            #expect(try await store.acknowledge(mailbox: carol.id, ids: [Envelope.id(of: shared), Envelope.id(of: own)]) == 1)
            #expect(try await store.counts().bodies == 2)
            #expect(try await store.acknowledge(mailbox: bob.id, ids: [Envelope.id(of: shared), Envelope.id(of: own)]) == 2)
            #expect(try await store.acknowledge(mailbox: bob.id, ids: [Envelope.id(of: own)]) == 0)
            #expect(try await store.counts() == RelayCounts(mailboxes: 2, bodies: 0, deliveries: 0, bodyBytes: 0))
            #expect(try await store.usage(of: bob.id)! == (0, 0))
            await #expect(throws: BatchListing.Vanished.self) { _ = try await store.readPage(mailbox: bob.id, listing.entries[...]) }
        }
    }

    @Test(arguments: StoreFactory.all) func aQuotaLeavesOutOnlyTheFullMailboxes(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let bob = try await Box.make(store), carol = try await Box.make(store), dave = try await Box.make(store)
            let quota = MailboxQuota(bytes: 1 << 20, envelopes: 2)
            _ = try await store.drop(DropRequest(targets: [carol.target], envelope: envelopeBytes()), now: 1, ttl: 100, quota: quota)
            _ = try await store.drop(DropRequest(targets: [carol.target], envelope: envelopeBytes()), now: 1, ttl: 100, quota: quota)
            // carol is full: a drop to bob, carol and dave is stored for bob and dave, and names carol.
            let wrong = Box()  // not registered
            let shared = envelopeBytes()
            let result = try await store.drop(DropRequest(targets: [bob.target, carol.target, wrong.target, dave.target], envelope: shared),
                                              now: 1, ttl: 100, quota: quota)
            #expect(result.accepted == 2 && result.full == [1] && result.refused == [2])
            #expect(try await store.fetch(mailbox: bob.id, limit: 5).items.map(\.envelope) == [shared])
            #expect(try await store.fetch(mailbox: dave.id, limit: 5).items.map(\.envelope) == [shared])
            #expect(try await store.usage(of: carol.id)! == (2, 2 * shared.count))
            // A drop for carol alone, or for carol and a wrong token, stores nothing.
            for targets in [[carol.target], [wrong.target, carol.target]] {
                await #expect(throws: MailboxFull(target: targets.count - 1)) {
                    _ = try await store.drop(DropRequest(targets: targets, envelope: envelopeBytes()), now: 1, ttl: 100, quota: quota)
                }
            }
            #expect(try await store.counts().bodies == 3)
            // Once carol has room, the same envelope again is stored for her: a body is shared by the
            // mailboxes of one drop (and by a later drop to a mailbox that still holds it), not across drops.
            _ = try await store.acknowledge(mailbox: carol.id, ids: [Envelope.id(of: try await store.fetch(mailbox: carol.id, limit: 1).items[0].envelope)])
            #expect(try await store.drop(DropRequest(targets: [carol.target], envelope: shared), now: 2, ttl: 100, quota: quota).accepted == 1)
            #expect(try await store.counts().bodies == 3)
            #expect(try await store.usage(of: bob.id)! == (1, shared.count))
            // An envelope a mailbox holds already does not count twice.
            let held = try await store.fetch(mailbox: carol.id, limit: 1).items[0].envelope
            #expect(try await store.drop(DropRequest(targets: [carol.target], envelope: held), now: 2, ttl: 100, quota: quota).accepted == 1)
            // Bytes count too.
            let tight = MailboxQuota(bytes: 600, envelopes: 100), erin = try await Box.make(store)
            _ = try await store.drop(DropRequest(targets: [erin.target], envelope: envelopeBytes()), now: 1, ttl: 100, quota: tight)
            await #expect(throws: MailboxFull(target: 0)) {
                _ = try await store.drop(DropRequest(targets: [erin.target], envelope: envelopeBytes()), now: 1, ttl: 100, quota: tight)
            }
        }
    }

    /// Drops that run at the same time (and may be committed together) never
    /// take a mailbox over its quota, and one refused leaves the others stored.
    @Test(arguments: StoreFactory.all) func concurrentDropsKeepTheQuota(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let bob = try await Box.make(store), carol = try await Box.make(store)
            let quota = MailboxQuota(bytes: 1 << 30, envelopes: 10)
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<64 {
                    let target = i % 2 == 0 ? bob.target : carol.target
                    group.addTask {
                        do {
                            _ = try await store.drop(DropRequest(targets: [target], envelope: envelopeBytes()), now: 1, ttl: 100, quota: quota)
                            return true
                        } catch is MailboxFull { return false }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 20)
            #expect(try await store.usage(of: bob.id)!.envelopes == 10)
            #expect(try await store.usage(of: carol.id)!.envelopes == 10)
            #expect(try await store.counts().deliveries == 20)
        }
    }

    @Test(arguments: StoreFactory.all) func referencesExpireAndNoncesToo(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let bob = try await Box.make(store), carol = try await Box.make(store)
            let shared = envelopeBytes()
            _ = try await store.drop(DropRequest(targets: [bob.target], envelope: shared), now: 100, ttl: 50)
            _ = try await store.drop(DropRequest(targets: [carol.target], envelope: shared), now: 120, ttl: 50)
            #expect(try await store.useNonce(mailbox: bob.id, nonce: [1, 2, 3], expiresAt: 160))
            #expect(try await !store.useNonce(mailbox: bob.id, nonce: [1, 2, 3], expiresAt: 160))
            #expect(try await store.useNonce(mailbox: carol.id, nonce: [1, 2, 3], expiresAt: 160))
            #expect(try await store.collect(now: 149) == CollectedGarbage())
            // Two drops, two bodies: bob's goes with his reference.
            #expect(try await store.collect(now: 150) == CollectedGarbage(references: 1, bodies: 1, nonces: 0))
            #expect(try await store.fetch(mailbox: bob.id, limit: 10).items.isEmpty)
            #expect(try await store.fetch(mailbox: carol.id, limit: 10).items.map(\.envelope) == [shared])
            #expect(try await store.collect(now: 170, batch: 1) == CollectedGarbage(references: 1, bodies: 1, nonces: 2))
            #expect(try await store.counts() == RelayCounts(mailboxes: 2, bodies: 0, deliveries: 0, bodyBytes: 0))
            // An expired nonce may be used again: its request's timestamp is refused by then.
            #expect(try await store.useNonce(mailbox: bob.id, nonce: [1, 2, 3], expiresAt: 400))
        }
    }

    @Test(arguments: StoreFactory.all) func anInviteRegistersOneMailbox(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let invite = RelayInvite()
            try await store.addInvite(invite, now: 1)
            #expect(try await store.unusedInvites() == 1)
            await #expect(throws: RegistrationRefusal.inviteRequired) {
                _ = try await store.register(mailbox: randomBytes(32), now: 2, policy: .invite, invite: nil, maxMailboxes: 10)
            }
            await #expect(throws: RegistrationRefusal.inviteUnknown) {
                _ = try await store.register(mailbox: randomBytes(32), now: 2, policy: .invite, invite: RelayInvite(), maxMailboxes: 10)
            }
            let first = randomBytes(32)
            #expect(try await store.register(mailbox: first, now: 2, policy: .invite, invite: invite, maxMailboxes: 10))
            #expect(try await store.unusedInvites() == 0)
            await #expect(throws: RegistrationRefusal.inviteUsed) {
                _ = try await store.register(mailbox: randomBytes(32), now: 3, policy: .invite, invite: invite, maxMailboxes: 10)
            }
            // An existing mailbox is not checked again.
            #expect(try await !store.register(mailbox: first, now: 3, policy: .invite, invite: nil, maxMailboxes: 10))
            // Two registrations racing with one code: one wins.
            let raced = RelayInvite()
            try await store.addInvite(raced, now: 4)
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        do { return try await store.register(mailbox: randomBytes(32), now: 5, policy: .invite, invite: raced, maxMailboxes: 100) }
                        catch RegistrationRefusal.inviteUsed { return false }
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1)
        }
    }

    @Test(arguments: StoreFactory.all) func policyAndRoomAreChecked(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let allowed = randomBytes(32)
            await #expect(throws: RegistrationRefusal.notAllowed) {
                _ = try await store.register(mailbox: randomBytes(32), now: 1, policy: .allowlist([allowed]), invite: nil, maxMailboxes: 10)
            }
            #expect(try await store.register(mailbox: allowed, now: 1, policy: .allowlist([allowed]), invite: nil, maxMailboxes: 10))
            await #expect(throws: RegistrationRefusal.relayFull) {
                _ = try await store.register(mailbox: randomBytes(32), now: 1, policy: .open, invite: nil, maxMailboxes: 1)
            }
            #expect(try await store.counts().mailboxes == 1)
        }
    }
}
