import KithRelay
import PostgresNIO

extension PostgresRelayStore {
    /// Friend invitations. Storing one locks its mailbox's row, so that the
    /// cap on live invitations holds whatever number of processes store
    /// them at once.
    public func putInvitation(id: [UInt8], mailbox: [UInt8], sealed: [UInt8], now: UInt64, expiresAt: UInt64, maxLive: Int) async throws {
        let logger = self.logger, id = bytea(id), owner = bytea(mailbox), sealed = bytea(sealed)
        let now = Int64(clamping: now), expires = Int64(clamping: expiresAt), maxLive = Int64(clamping: maxLive)
        try await transaction { connection in
            _ = try await connection.rows("SELECT 1 FROM mailbox WHERE id = \(owner) FOR UPDATE", logger)
            if let stored = try await connection.rows("SELECT mailbox FROM friend_invitation WHERE id = \(id)", logger).first {
                guard try stored.decode(ByteBuffer.self) == owner else { throw InvitationRefusal.idTaken }
                return
            }
            // The mailbox's expired ones go first, so short-lived ones cannot pile up between collections.
            _ = try await connection.rows("DELETE FROM friend_invitation WHERE mailbox = \(owner) AND expires_at <= \(now)", logger)
            let live = try await connection.rows("SELECT count(*) FROM friend_invitation WHERE mailbox = \(owner)", logger)
                .first?.decode(Int64.self) ?? 0
            guard live < maxLive else { throw InvitationRefusal.tooMany }
            // Another mailbox storing the same id at this moment: the primary key refuses the second.
            let inserted = try await connection.rows("""
                INSERT INTO friend_invitation (id, mailbox, sealed, created_at, expires_at) VALUES (\(id), \(owner), \(sealed), \(now), \(expires))
                ON CONFLICT (id) DO NOTHING RETURNING 1
                """, logger)
            guard !inserted.isEmpty else { throw InvitationRefusal.idTaken }
        }
    }

    public func takeInvitation(id: [UInt8], now: UInt64) async throws -> [UInt8]? {
        let logger = self.logger, id = bytea(id), now = Int64(clamping: now)
        let row = try await read { connection in
            try await connection.rows("DELETE FROM friend_invitation WHERE id = \(id) RETURNING sealed, expires_at", logger)
                .first?.decode((ByteBuffer, Int64).self)
        }
        guard let row, row.1 > now else { return nil }
        return row.0.bytes
    }

    /// Deletes what expired, `batch` rows a transaction. References are
    /// picked first, then their mailboxes' rows are locked (in the order of
    /// their ids, as drops lock them) and the references deleted, the
    /// counts lowered and the bodies or blobs left unreferenced deleted in
    /// the same transaction. Several processes may collect at once: a row
    /// another took already is simply not deleted twice.
    public func collect(now: UInt64, batch: Int) async throws -> CollectedGarbage {
        let logger = self.logger, now = Int64(clamping: now), batch = max(1, min(batch, 100_000)), limit = Int64(batch)
        var collected = CollectedGarbage()
        while true {
            let shard = Int16.random(in: 0..<Int16(Self.storeTotalShards))
            let (picked, references, bodies) = try await transaction { connection -> (Int, Int, Int) in
                let expired = try await connection.rows(
                    "SELECT mailbox, seq FROM delivery WHERE expires_at <= \(now) ORDER BY expires_at LIMIT \(limit)", logger)
                    .map { try $0.decode((ByteBuffer, Int64).self) }
                guard !expired.isEmpty else { return (0, 0, 0) }
                let mailboxes = expired.map(\.0), sequences = expired.map(\.1)
                try await Self.lock(mailboxes, connection, logger)
                let gone = try await connection.rows("""
                    WITH gone AS (DELETE FROM delivery d USING unnest(\(mailboxes)::bytea[], \(sequences)::bigint[]) AS x (mailbox, seq)
                                  WHERE d.mailbox = x.mailbox AND d.seq = x.seq AND d.expires_at <= \(now)
                                  RETURNING d.mailbox, d.size, d.body),
                         counted AS (UPDATE mailbox m SET envelopes = m.envelopes - g.n, bytes = m.bytes - g.b
                                     FROM (SELECT mailbox, count(*) AS n, sum(size) AS b FROM gone GROUP BY mailbox) g WHERE m.id = g.mailbox)
                    SELECT body FROM gone
                    """, logger).map { try $0.decode(Int64.self) }
                let bodies = try await Self.deleteUnreferencedBodies(Array(Set(gone)), shard: shard, connection, logger)
                return (expired.count, gone.count, bodies)
            }
            collected.references += references
            collected.bodies += bodies
            if picked < batch { break }
        }
        while true {
            let shard = Int16.random(in: 0..<Int16(Self.storeTotalShards))
            let (picked, references, blobs) = try await transaction(retryingForeignKey: true) { connection -> (Int, Int, Int) in
                let expired = try await connection.rows(
                    "SELECT mailbox, blob FROM blob_ref WHERE expires_at <= \(now) ORDER BY expires_at LIMIT \(limit)", logger)
                    .map { try $0.decode((ByteBuffer, ByteBuffer).self) }
                guard !expired.isEmpty else { return (0, 0, 0) }
                let mailboxes = expired.map(\.0), ids = expired.map(\.1)
                try await Self.lock(mailboxes, connection, logger)
                let gone = try await connection.rows("""
                    WITH gone AS (DELETE FROM blob_ref r USING unnest(\(mailboxes)::bytea[], \(ids)::bytea[]) AS x (mailbox, blob), blob b
                                  WHERE r.mailbox = x.mailbox AND r.blob = x.blob AND b.id = r.blob AND r.expires_at <= \(now)
                                  RETURNING r.mailbox, r.blob, b.size),
                         counted AS (UPDATE mailbox m SET blobs = m.blobs - g.n, blob_bytes = m.blob_bytes - g.b
                                     FROM (SELECT mailbox, count(*) AS n, sum(size) AS b FROM gone GROUP BY mailbox) g WHERE m.id = g.mailbox)
                    SELECT blob FROM gone
                    """, logger).map { try $0.decode(ByteBuffer.self) }
                let blobs = try await Self.deleteUnreferencedBlobs(Array(Set(gone)), shard: shard, connection, logger)
                return (expired.count, gone.count, blobs)
            }
            collected.blobReferences += references
            collected.blobs += blobs
            if picked < batch { break }
        }
        while true {
            let nonces = try await read { connection in
                try await connection.rows("""
                    DELETE FROM request_nonce WHERE (mailbox, nonce) IN
                        (SELECT mailbox, nonce FROM request_nonce WHERE expires_at <= \(now) LIMIT \(limit)) RETURNING 1
                    """, logger).count
            }
            collected.nonces += nonces
            if nonces < batch { break }
        }
        while true {
            let invitations = try await read { connection in
                try await connection.rows("""
                    DELETE FROM friend_invitation WHERE id IN
                        (SELECT id FROM friend_invitation WHERE expires_at <= \(now) LIMIT \(limit)) RETURNING 1
                    """, logger).count
            }
            collected.invitations += invitations
            if invitations < batch { break }
        }
        return collected
    }

    /// Locks these mailboxes' rows in the order of their ids.
    static func lock(_ mailboxes: [ByteBuffer], _ connection: PostgresConnection, _ logger: Logger) async throws {
        _ = try await connection.rows("SELECT 1 FROM mailbox WHERE id = ANY(\(mailboxes)::bytea[]) ORDER BY id FOR UPDATE", logger)
    }
}
