import Foundation
import GRDB

extension SQLiteRelayStore {
    public func collect(now: UInt64, batch: Int) async throws -> CollectedGarbage {
        let now = Int64(clamping: now), batch = max(1, batch)
        var collected = CollectedGarbage()
        // Expired references, and in the same transaction the bodies they
        // leave unreferenced.
        while true {
            let (references, bodies) = try await writer.write { db -> (Int, Int) in
                let rows = try Row.fetchAll(db, sql: SQL.expiredDeliveries, arguments: [now, batch])
                guard !rows.isEmpty else { return (0, 0) }
                let sequences: [Int64] = rows.map { $0[0] }
                let bodies = Array(Set(rows.map { $0[1] as Int64 }))
                for chunk in Self.chunks(sequences) {
                    try db.execute(sql: SQL.deleteDeliveries(chunk.count), arguments: StatementArguments(chunk))
                }
                var deleted = 0
                for chunk in Self.chunks(bodies) {
                    try db.execute(sql: SQL.unreferencedBodies(chunk.count), arguments: StatementArguments(chunk))
                    deleted += db.changesCount
                }
                return (rows.count, deleted)
            }
            collected.references += references
            collected.bodies += bodies
            if references < batch { break }
        }
        // Bodies past the expiry of their last reference that nothing
        // references (none should be left by the step above; this keeps a
        // store written by older code from holding any).
        while true {
            let bodies = try await writer.write { db -> Int in
                try db.execute(sql: SQL.expiredBodies, arguments: [now, batch])
                return db.changesCount
            }
            collected.bodies += bodies
            if bodies < batch { break }
        }
        while true {
            let nonces = try await writer.write { db -> Int in
                try db.execute(sql: SQL.expiredNonces, arguments: [now, batch])
                return db.changesCount
            }
            collected.nonces += nonces
            if nonces < batch { break }
        }
        collected.invitations = try await collectInvitations(now: now, batch: batch)
        (collected.blobReferences, collected.blobs) = try await collectBlobs(now: now, batch: batch)
        // The space of what was deleted here and by acknowledgements goes back
        // to the file system, a thousand pages at a time.
        var free = Int.max
        while free > 0 {
            let left = try await writer.writeWithoutTransaction { db -> Int in
                try db.execute(sql: "PRAGMA incremental_vacuum(1000)")
                return try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            }
            guard left < free else { break }
            free = left
        }
        return collected
    }

    private static func chunks<T>(_ items: [T]) -> [ArraySlice<T>] {
        stride(from: 0, to: items.count, by: 500).map { items[$0..<min($0 + 500, items.count)] }
    }
}
