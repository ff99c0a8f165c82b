import KithCrypto
import KithProtocol
import KithRelay
import PostgresNIO

extension PostgresRelayStore {
    /// Stores the blob once and a reference from each target whose token is
    /// valid and whose mailbox has room, in one transaction that locks the
    /// target mailboxes' rows as a drop does. A blob whose last reference
    /// another process released meanwhile is gone when this one references
    /// it; the foreign key says so, and the transaction is tried again (it
    /// then stores the blob anew).
    public func storeBlob(_ blob: ArraySlice<UInt8>, for targets: [DropRequest.Target], now: UInt64, ttl: UInt64,
                          quota: MailboxQuota?) async throws -> DropResult {
        let hash = Hash.Blake2bStream(length: 32)
        hash.update(blob)
        let blobID = hash.finish()
        let logger = self.logger, id = bytea(blobID), size = Int64(blob.count), data = bytea(blob)
        let mailboxes = targets.map { bytea($0.mailbox) }, hashes = targets.map { bytea(DropToken.hash($0.token)) }
        let expires = Self.expiry(now: now, ttl: ttl), now = Int64(clamping: now)
        let shard = Int16.random(in: 0..<Int16(Self.storeTotalShards))
        return try await transaction(retryingForeignKey: true) { connection in
            var open: [[UInt8]: (blobs: Int64, bytes: Int64)] = [:]
            for row in try await connection.rows("""
                SELECT m.id, m.blobs, m.blob_bytes FROM mailbox m
                WHERE m.id IN (SELECT t.mailbox FROM unnest(\(mailboxes)::bytea[], \(hashes)::bytea[]) AS t (mailbox, hash)
                               JOIN drop_token k ON k.mailbox = t.mailbox AND k.hash = t.hash)
                ORDER BY m.id FOR UPDATE
                """, logger) {
                let (mailbox, blobs, bytes) = try row.decode((ByteBuffer, Int64, Int64).self)
                open[mailbox.bytes] = (blobs, bytes)
            }
            var held = Set<[UInt8]>()
            if !open.isEmpty {
                let locked = open.keys.map { bytea($0) }
                for row in try await connection.rows(
                    "SELECT mailbox FROM blob_ref WHERE mailbox = ANY(\(locked)::bytea[]) AND blob = \(id)", logger) {
                    held.insert(try row.decode(ByteBuffer.self).bytes)
                }
            }
            // `held` grows with the mailboxes that get it now; `accepted` lists each mailbox once.
            var refused: [Int] = [], full: [Int] = [], accepted: [[UInt8]] = [], fresh: [[UInt8]] = [], listed = Set<[UInt8]>()
            for (i, target) in targets.enumerated() {
                guard var counts = open[target.mailbox] else {
                    refused.append(i)
                    continue
                }
                if !held.contains(target.mailbox) {
                    if let quota, counts.blobs >= Int64(quota.blobs) || counts.bytes > Int64(quota.blobBytes) - size {
                        full.append(i)
                        continue
                    }
                    counts.blobs += 1
                    counts.bytes += size
                    open[target.mailbox] = counts
                    fresh.append(target.mailbox)
                    held.insert(target.mailbox)
                }
                if listed.insert(target.mailbox).inserted { accepted.append(target.mailbox) }
            }
            let acceptedCount = targets.indices.count - refused.count - full.count
            if acceptedCount == 0, let first = full.first { throw MailboxFull(target: first) }
            if !accepted.isEmpty {
                let stored = try await !connection.rows("SELECT 1 FROM blob WHERE id = \(id)", logger).isEmpty
                if !stored {
                    _ = try await connection.rows("""
                        WITH stored AS (INSERT INTO blob (id, size, data, created_at) VALUES (\(id), \(size), \(data), \(now))
                                        ON CONFLICT (id) DO NOTHING RETURNING size)
                        UPDATE store_total SET blobs = blobs + (SELECT count(*) FROM stored),
                                               blob_bytes = blob_bytes + (SELECT coalesce(sum(size), 0) FROM stored)
                        WHERE shard = \(shard)
                        """, logger)
                }
                let referencing = accepted.map { bytea($0) }, new = fresh.map { bytea($0) }
                // A mailbox named again for a blob it holds keeps one reference, living as long as the later upload's.
                _ = try await connection.rows("""
                    INSERT INTO blob_ref (mailbox, blob, received_at, expires_at)
                    SELECT unnest(\(referencing)::bytea[]), \(id), \(now), \(expires)
                    ON CONFLICT (mailbox, blob) DO UPDATE SET expires_at = greatest(blob_ref.expires_at, excluded.expires_at)
                    """, logger)
                if !new.isEmpty {
                    _ = try await connection.rows("""
                        UPDATE mailbox SET blobs = blobs + 1, blob_bytes = blob_bytes + \(size) WHERE id = ANY(\(new)::bytea[])
                        """, logger)
                }
            }
            return DropResult(id: Hex.encode(blobID), accepted: acceptedCount, refused: refused, full: full)
        }
    }

    public func anyValidToken(_ targets: [DropRequest.Target]) async throws -> Bool {
        guard !targets.isEmpty else { return false }
        let logger = self.logger
        let mailboxes = targets.map { bytea($0.mailbox) }, hashes = targets.map { bytea(DropToken.hash($0.token)) }
        return try await read { connection in
            try await !connection.rows("""
                SELECT 1 FROM unnest(\(mailboxes)::bytea[], \(hashes)::bytea[]) AS t (mailbox, hash)
                JOIN drop_token k ON k.mailbox = t.mailbox AND k.hash = t.hash LIMIT 1
                """, logger).isEmpty
        }
    }

    public func blobs(of mailbox: [UInt8], limit: Int) async throws -> [BlobListing] {
        let logger = self.logger, id = bytea(mailbox), limit = Int64(max(0, limit))
        return try await read { connection in
            try await connection.rows("""
                SELECT r.blob, b.size, r.received_at, r.expires_at FROM blob_ref r JOIN blob b ON b.id = r.blob
                WHERE r.mailbox = \(id) ORDER BY r.received_at, r.blob LIMIT \(limit)
                """, logger).map { row in
                let (blob, size, receivedAt, expiresAt) = try row.decode((ByteBuffer, Int64, Int64, Int64).self)
                return BlobListing(id: Base64URL.encode(blob.bytes), size: Int(size),
                                   receivedAt: UInt64(clamping: receivedAt), expiresAt: UInt64(clamping: expiresAt))
            }
        }
    }

    public func blobSize(id: [UInt8], mailbox: [UInt8]) async throws -> Int? {
        let logger = self.logger, blob = bytea(id), mailbox = bytea(mailbox)
        return try await read { connection in
            try await connection.rows("""
                SELECT b.size FROM blob_ref r JOIN blob b ON b.id = r.blob WHERE r.mailbox = \(mailbox) AND r.blob = \(blob)
                """, logger).first.map { Int(try $0.decode(Int64.self)) }
        }
    }

    /// Reads only the part asked for: the blob's bytes are stored out of
    /// line and uncompressed, so `substring` fetches only the chunks that
    /// hold them.
    public func readBlob(id: [UInt8], offset: Int, length: Int) async throws -> [UInt8] {
        guard offset >= 0 else { throw BlobVanished() }
        let logger = self.logger, blob = bytea(id), start = Int32(min(offset, Int(Int32.max) - 1) + 1), count = Int32(clamping: max(0, length))
        let row = try await read { connection in
            try await connection.rows("SELECT size, substring(data FROM \(start) FOR \(count)) FROM blob WHERE id = \(blob)", logger)
                .first?.decode((Int64, ByteBuffer).self)
        }
        guard let row, Int64(offset) <= row.0 else { throw BlobVanished() }
        return row.1.bytes
    }

    public func releaseBlob(id: [UInt8], mailbox: [UInt8]) async throws -> Bool {
        let logger = self.logger, blob = bytea(id), mailbox = bytea(mailbox)
        let shard = Int16.random(in: 0..<Int16(Self.storeTotalShards))
        return try await transaction(retryingForeignKey: true) { connection in
            guard try await !connection.rows("SELECT 1 FROM mailbox WHERE id = \(mailbox) FOR UPDATE", logger).isEmpty else { return false }
            let released = try await connection.rows("""
                WITH gone AS (DELETE FROM blob_ref WHERE mailbox = \(mailbox) AND blob = \(blob) RETURNING blob)
                UPDATE mailbox SET blobs = blobs - 1, blob_bytes = blob_bytes - (SELECT size FROM blob WHERE id = \(blob))
                WHERE id = \(mailbox) AND EXISTS (SELECT 1 FROM gone) RETURNING 1
                """, logger)
            guard !released.isEmpty else { return false }
            try await Self.deleteUnreferencedBlobs([blob], shard: shard, connection, logger)
            return true
        }
    }

    /// Deletes those of these blobs no reference is left to, and takes them
    /// off the relay's counts; returns how many. The blobs' rows are locked
    /// first (in order of id), as bodies are: two releases of one blob take
    /// turns, and the second looks for references after the first
    /// committed. A blob that another transaction references meanwhile
    /// stays: its new reference's foreign key check locks the blob's row,
    /// which the deletion then waits for, and the deletion fails on that
    /// foreign key (and is tried again) rather than leave a reference to
    /// nothing.
    @discardableResult
    static func deleteUnreferencedBlobs(_ blobs: [ByteBuffer], shard: Int16, _ connection: PostgresConnection, _ logger: Logger) async throws -> Int {
        guard !blobs.isEmpty else { return 0 }
        _ = try await connection.rows("SELECT 1 FROM blob WHERE id = ANY(\(blobs)::bytea[]) ORDER BY id FOR UPDATE", logger)
        let rows = try await connection.rows("""
            WITH freed AS (DELETE FROM blob b WHERE b.id = ANY(\(blobs)::bytea[])
                               AND NOT EXISTS (SELECT 1 FROM blob_ref r WHERE r.blob = b.id) RETURNING size)
            UPDATE store_total SET blobs = blobs - (SELECT count(*) FROM freed), blob_bytes = blob_bytes - (SELECT coalesce(sum(size), 0) FROM freed)
            WHERE shard = \(shard) RETURNING (SELECT count(*) FROM freed)
            """, logger)
        return try Int(rows.first?.decode(Int64.self) ?? 0)
    }
}
