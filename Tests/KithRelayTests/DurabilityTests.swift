import Foundation
import GRDB
import KithCrypto
import KithProtocol
@testable import KithRelay
import Testing

/// An acknowledged drop is on disk: the relay's database commits with
/// `synchronous=FULL` in WAL mode, and its queries stay on indexes, so that
/// their cost does not grow with what the relay holds.
@Suite struct DurabilityTests {
    @Test func theRelayDatabaseSyncsEveryCommit() async throws {
        let dir = NSTemporaryDirectory() + "kith-relay-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteRelayStore(path: dir + "/relay.sqlite")
        // The writer commits; readers are set the same way.
        let written = try await store.writer.writeWithoutTransaction { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
        }
        #expect(written.0 == "wal")
        #expect(written.1 == 2, "synchronous=FULL is 2")
        #expect(try await store.writer.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
    }

    /// Each query the routes run for a drop, a fetch, an acknowledgement or
    /// a collection searches an index or a primary key: none scans a table.
    @Test func theHotQueriesUseIndexes() async throws {
        let store = try SQLiteRelayStore()
        typealias SQL = SQLiteRelayStore.SQL
        typealias Blob = SQLiteRelayStore.BlobSQL
        let queries = [
            SQL.target, SQL.held, SQL.addCounts, SQL.extendBody, SQL.listing, SQL.page, SQL.acknowledged(2), SQL.acknowledge(2), SQL.unreferencedBodies(2),
            SQL.expiredDeliveries, SQL.deleteDeliveries(2), SQL.expiredBodies, SQL.expiredNonces, SQL.useNonce,
            Blob.target, Blob.stored, Blob.referenced, Blob.release, Blob.deleteUnreferenced, Blob.expired,
            Blob.valid, Blob.list,
        ]
        for sql in queries {
            let plan = try await store.writer.read { db in
                let arguments = StatementArguments(Array(repeating: DatabaseValue.null, count: sql.filter { $0 == "?" }.count))
                return try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String }
            }
            #expect(!plan.contains { $0.hasPrefix("SCAN") && !$0.contains("USING") }, "\(sql): \(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(sql): \(plan)")
        }
    }

    /// Drops that arrive together share a transaction and its sync; a drop
    /// refused in a shared transaction leaves the others stored, and a
    /// multi-target drop is stored for the mailboxes that have room.
    @Test func concurrentDropsShareCommits() async throws {
        let dir = NSTemporaryDirectory() + "kith-relay-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteRelayStore(path: dir + "/relay.sqlite")
        let bob = TestMailbox(), carol = TestMailbox()
        for m in [bob, carol] {
            _ = try await store.register(mailbox: m.key.publicKey, now: 1)
            try await store.addToken(hash: DropToken.hash(m.token), mailbox: m.key.publicKey, now: 1)
        }
        let quota = MailboxQuota(bytes: 1 << 30, envelopes: 40)
        // 120 drops to bob alone, 30 to bob and carol: bob takes 40, so some of each kind find him full.
        let outcomes = try await withThrowingTaskGroup(of: DropResult?.self) { group in
            for i in 0..<150 {
                let targets = i < 120 ? [bob.target] : [bob.target, carol.target]
                group.addTask {
                    do { return try await store.drop(DropRequest(targets: targets, envelope: envelopeBytes()), now: 1, ttl: 100, quota: quota) } catch is MailboxFull {
                        #expect(targets.count == 1)
                        return nil
                    }
                }
            }
            return try await group.reduce(into: [DropResult?]()) { $0.append($1) }
        }
        let stored = outcomes.compactMap { $0 }
        // bob's target is index 0 of every drop: those that name it full were stored for carol alone.
        #expect(stored.filter { $0.full.isEmpty }.count == 40)
        #expect(stored.allSatisfy { $0.full.isEmpty || ($0.full == [0] && $0.accepted == 1) })
        #expect(try await store.usage(of: bob.key.publicKey)!.envelopes == 40)
        #expect(try await store.usage(of: carol.key.publicKey)!.envelopes == 30)
        #expect(try await store.counts().bodies == stored.count)
        #expect(store.drops.batches < 150, "\(store.drops.batches) transactions for 150 drops")
    }
}
