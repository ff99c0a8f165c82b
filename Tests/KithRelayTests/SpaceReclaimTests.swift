import Foundation
import GRDB
import KithCrypto
import KithNode
import KithProtocol
import Testing
@testable import KithRelay

/// A relay's database shrinks again once what it held is fetched and acknowledged.
@Suite struct SpaceReclaimTests {
    @Test func theDatabaseShrinksAfterEnvelopesAreDeleted() async throws {
        let dir = NSTemporaryDirectory() + "kith-reclaim-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteRelayStore(path: dir + "/relay.sqlite")
        @Sendable func size() async throws -> Int {
            try await store.writer.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
                return try Int.fetchOne(db, sql: "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size") ?? 0
            }
        }
        try await withLiveRelay(store: store) { url, _ in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay)
            for _ in 0..<150 { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes(65536))) }
            let full = try await size()
            #expect(full > 9 << 20)
            while true {
                let batch = try await relay.fetch(mailboxKey: bob.key, limit: 100)
                if batch.items.isEmpty { break }
                try await relay.acknowledge(ids: batch.items.map { Envelope.id(of: $0.envelope) }, mailboxKey: bob.key)
            }
            _ = try await store.collect(now: Node.now(), batch: 1000)
            let after = try await size()
            #expect(after < 1 << 20, "\(full >> 20) MiB before, \(after >> 10) KiB after")
        }
    }
}
