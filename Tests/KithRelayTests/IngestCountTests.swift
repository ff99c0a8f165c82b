import Foundation
import GRDB
import KithCrypto
import KithProtocol
@testable import KithRelay
import Testing

/// A mailbox's counts of envelopes and bytes, kept once per transaction of
/// drops since relay migration `v8-ingest-counts` (by a trigger per
/// reference before it).
@Suite struct IngestCountTests {
    /// The counts the references of `mailbox` add up to.
    static func recount(_ store: SQLiteRelayStore, _ mailbox: TestMailbox) async throws -> (Int, Int) {
        try await store.writer.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(size), 0) FROM delivery WHERE mailbox = ?",
                                       arguments: [Data(mailbox.key.publicKey)])!
            return (row[0], row[1])
        }
    }

    /// A relay from before v8 keeps the counts of what waits; afterwards
    /// drops, drops of one transaction, duplicates, acknowledgements and
    /// expiry keep every count equal to what the references add up to, and
    /// the quota exact.
    @Test func countsStayExactAcrossTheMigration() async throws {
        let dir = NSTemporaryDirectory() + "kith-relay-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bob = TestMailbox(), carol = TestMailbox()
        let shared = envelopeBytes(), own = envelopeBytes(1024)
        do {
            let old = try SQLiteRelayStore(path: dir + "/relay.sqlite", migratingUpTo: "v7-blob-quota")
            for m in [bob, carol] {
                _ = try await old.register(mailbox: m.key.publicKey, now: 1)
                try await old.addToken(hash: DropToken.hash(m.token), mailbox: m.key.publicKey, now: 1)
            }
            // Written as the relay before v8 wrote them, its trigger counting each reference.
            try await old.writer.write { db in
                for (env, boxes) in [(shared, [bob, carol]), (own, [bob])] {
                    try db.execute(sql: "INSERT INTO body (data, created_at, expires_at) VALUES (?, 1, 1000)", arguments: [Data(env)])
                    let body = db.lastInsertedRowID
                    for m in boxes {
                        try db.execute(sql: "INSERT INTO delivery (mailbox, envelope, body, received_at, size, expires_at) VALUES (?, ?, ?, 1, ?, 1000)",
                                       arguments: [Data(m.key.publicKey), Data(Envelope.id(of: env)), body, env.count])
                    }
                }
            }
            #expect(try await old.usage(of: bob.key.publicKey)! == (2, shared.count + own.count))
        }
        let store = try SQLiteRelayStore(path: dir + "/relay.sqlite")
        #expect(try await store.writer.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'delivery_counted'") } == 0)
        #expect(try await store.usage(of: bob.key.publicKey)! == (2, shared.count + own.count))
        #expect(try await store.usage(of: carol.key.publicKey)! == (1, shared.count))

        // Drops in one transaction: a new envelope twice and one bob holds already count once each or not at all.
        let next = envelopeBytes()
        let results = try await store.drop([DropRequest(targets: [bob.target], envelope: next), DropRequest(targets: [bob.target], envelope: next),
                                            DropRequest(targets: [bob.target, carol.target], envelope: shared)], now: 2, ttl: 1000)
        #expect(results.map(\.accepted) == [1, 1, 2])
        #expect(try await store.usage(of: bob.key.publicKey)! == (3, shared.count + own.count + next.count))
        #expect(try await store.usage(of: carol.key.publicKey)! == (1, shared.count))

        // Concurrent drops, committed together, stop exactly at the quota.
        let quota = MailboxQuota(bytes: 1 << 30, envelopes: 10)
        let stored = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<24 {
                group.addTask {
                    do {
                        _ = try await store.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes()), now: 2, ttl: 1000, quota: quota)
                        return true
                    } catch is MailboxFull { return false }
                }
            }
            return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(stored == 7)
        #expect(try await store.usage(of: bob.key.publicKey)!.envelopes == 10)
        for m in [bob, carol] {
            let usage = try await store.usage(of: m.key.publicKey)!
            #expect(try await Self.recount(store, m) == (usage.envelopes, usage.bytes))
        }

        // Acknowledging and expiry count references out.
        #expect(try await store.acknowledge(mailbox: bob.key.publicKey, ids: [Envelope.id(of: own), Envelope.id(of: next)]) == 2)
        #expect(try await store.usage(of: bob.key.publicKey)!.envelopes == 8)
        _ = try await store.collect(now: 1000)
        #expect(try await store.usage(of: carol.key.publicKey)! == (0, 0))
        for m in [bob, carol] {
            let usage = try await store.usage(of: m.key.publicKey)!
            #expect(try await Self.recount(store, m) == (usage.envelopes, usage.bytes))
        }
    }
}
