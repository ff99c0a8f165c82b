import KithCrypto
import KithProtocol
import KithRelay
import Logging
import PostgresNIO

/// Why a registration stored nothing although nothing refused it: another
/// process registered the same mailbox meanwhile.
private struct RegisteredMeanwhile: Error {}

extension PostgresRelayStore {
    public func register(mailbox: [UInt8], now: UInt64, policy: RegistrationPolicy, invite: RelayInvite?,
                         maxMailboxes: Int) async throws -> Bool {
        let logger = self.logger, id = bytea(mailbox), now = Int64(clamping: now), max = Int64(clamping: maxMailboxes)
        do {
            return try await transaction { connection in
                if try await !connection.rows("SELECT 1 FROM mailbox WHERE id = \(id)", logger).isEmpty { return false }
                var inviteHash: ByteBuffer?
                switch policy {
                case .open: break
                case .allowlist(let keys):
                    guard keys.contains(mailbox) else { throw RegistrationRefusal.notAllowed }
                case .invite:
                    guard let invite else { throw RegistrationRefusal.inviteRequired }
                    let hash = bytea(invite.hash)
                    // Locked: registrations racing with one code, in any process, take turns on it.
                    let rows = try await connection.rows("SELECT used_at FROM invite WHERE hash = \(hash) FOR UPDATE", logger)
                    guard let row = rows.first else { throw RegistrationRefusal.inviteUnknown }
                    guard try row.decode(Int64?.self) == nil else { throw RegistrationRefusal.inviteUsed }
                    inviteHash = hash
                }
                let counted = try await connection.rows(
                    "UPDATE relay_total SET mailboxes = mailboxes + 1 WHERE mailboxes < \(max) RETURNING mailboxes", logger)
                guard !counted.isEmpty else { throw RegistrationRefusal.relayFull }
                let inserted = try await connection.rows(
                    "INSERT INTO mailbox (id, created_at) VALUES (\(id), \(now)) ON CONFLICT (id) DO NOTHING RETURNING 1", logger)
                guard !inserted.isEmpty else { throw RegisteredMeanwhile() }
                if let inviteHash {
                    _ = try await connection.rows("UPDATE invite SET used_at = \(now) WHERE hash = \(inviteHash)", logger)
                }
                return true
            }
        } catch is RegisteredMeanwhile {
            return false
        }
    }

    public func mailboxExists(_ mailbox: [UInt8]) async throws -> Bool {
        let logger = self.logger, id = bytea(mailbox)
        return try await read { connection in try await !connection.rows("SELECT 1 FROM mailbox WHERE id = \(id)", logger).isEmpty }
    }

    /// A replayed nonce is refused whichever process sees it second: the
    /// primary key decides, in the server.
    public func useNonce(mailbox: [UInt8], nonce: [UInt8], expiresAt: UInt64) async throws -> Bool {
        let logger = self.logger, id = bytea(mailbox), nonce = bytea(nonce), expires = Int64(clamping: expiresAt)
        return try await read { connection in
            try await !connection.rows("""
                INSERT INTO request_nonce (mailbox, nonce, expires_at) VALUES (\(id), \(nonce), \(expires))
                ON CONFLICT (mailbox, nonce) DO NOTHING RETURNING 1
                """, logger).isEmpty
        }
    }

    public func addToken(hash: [UInt8], mailbox: [UInt8], now: UInt64) async throws {
        let logger = self.logger, id = bytea(mailbox), hash = bytea(hash), now = Int64(clamping: now)
        try await read { connection in
            _ = try await connection.rows("""
                INSERT INTO drop_token (mailbox, hash, created_at) VALUES (\(id), \(hash), \(now)) ON CONFLICT (mailbox, hash) DO NOTHING
                """, logger)
        }
    }

    public func removeToken(hash: [UInt8], mailbox: [UInt8]) async throws -> Bool {
        let logger = self.logger, id = bytea(mailbox), hash = bytea(hash)
        return try await read { connection in
            try await !connection.rows("DELETE FROM drop_token WHERE mailbox = \(id) AND hash = \(hash) RETURNING 1", logger).isEmpty
        }
    }

    /// One transaction per drop: it locks the target mailboxes' rows (in
    /// the order of their ids), checks tokens, what each holds already and
    /// quotas, stores the body once, takes each new reference's sequence
    /// number from its mailbox's counter and adds to its counts. Once it has
    /// committed, `kith_mail` is notified of the mailboxes that got it, in a
    /// small transaction of its own (`notify`).
    public func drop(_ request: DropRequest, now: UInt64, ttl: UInt64, quota: MailboxQuota?) async throws -> DropResult {
        let targets = request.targets.list
        let envelopeID = Envelope.id(of: request.envelope)
        let logger = self.logger, envelope = bytea(request.envelope), id = bytea(envelopeID), size = Int64(request.envelope.count)
        let mailboxes = targets.map { bytea($0.mailbox) }, hashes = targets.map { bytea(DropToken.hash($0.token)) }
        let expires = Self.expiry(now: now, ttl: ttl), now = Int64(clamping: now)
        let shard = Int16.random(in: 0..<Int16(Self.storeTotalShards))
        return try await transaction({ connection -> (result: DropResult, fresh: [[UInt8]]) in
            // The mailboxes whose token is valid, locked, with their counts as of now.
            var open: [[UInt8]: (envelopes: Int64, bytes: Int64)] = [:]
            for row in try await connection.rows("""
                SELECT m.id, m.envelopes, m.bytes FROM mailbox m
                WHERE m.id IN (SELECT t.mailbox FROM unnest(\(mailboxes)::bytea[], \(hashes)::bytea[]) AS t (mailbox, hash)
                               JOIN drop_token k ON k.mailbox = t.mailbox AND k.hash = t.hash)
                ORDER BY m.id FOR UPDATE
                """, logger) {
                let (mailbox, envelopes, bytes) = try row.decode((ByteBuffer, Int64, Int64).self)
                open[mailbox.bytes] = (envelopes, bytes)
            }
            // Which of them hold this envelope already (read once the locks are held), and its body.
            var held: [[UInt8]: Int64] = [:]
            if !open.isEmpty {
                let locked = open.keys.map { bytea($0) }
                for row in try await connection.rows(
                    "SELECT mailbox, body FROM delivery WHERE mailbox = ANY(\(locked)::bytea[]) AND envelope = \(id)", logger) {
                    let (mailbox, body) = try row.decode((ByteBuffer, Int64).self)
                    held[mailbox.bytes] = body
                }
            }
            var refused: [Int] = [], full: [Int] = [], accepted = 0, fresh: [[UInt8]] = [], taken: Set<[UInt8]> = []
            for (i, target) in targets.enumerated() {
                guard var counts = open[target.mailbox] else {
                    refused.append(i)
                    continue
                }
                if held[target.mailbox] == nil, !taken.contains(target.mailbox) {
                    if let quota, counts.envelopes >= Int64(quota.envelopes) || counts.bytes > Int64(quota.bytes) - size {
                        full.append(i)
                        continue
                    }
                    counts.envelopes += 1
                    counts.bytes += size
                    open[target.mailbox] = counts
                    fresh.append(target.mailbox)
                    taken.insert(target.mailbox)
                }
                accepted += 1
            }
            if accepted == 0, let first = full.first { throw MailboxFull(target: first) }
            if !fresh.isEmpty {
                let body: Int64
                if let stored = held.values.first {
                    body = stored
                } else {
                    let rows = try await connection.rows("""
                        WITH stored AS (INSERT INTO body (data, size, created_at) VALUES (\(envelope), \(size), \(now)) RETURNING id),
                             counted AS (UPDATE store_total SET bodies = bodies + 1, body_bytes = body_bytes + \(size) WHERE shard = \(shard))
                        SELECT id FROM stored
                        """, logger)
                    guard let row = rows.first else { throw RelayStoreUnavailable("storing a body returned no id") }
                    body = try row.decode(Int64.self)
                }
                let new = fresh.map { bytea($0) }
                _ = try await connection.rows("""
                    WITH issued AS (
                        UPDATE mailbox SET last_seq = last_seq + 1, envelopes = envelopes + 1, bytes = bytes + \(size)
                        WHERE id = ANY(\(new)::bytea[]) RETURNING id, last_seq)
                    INSERT INTO delivery (mailbox, seq, envelope, body, received_at, size, expires_at)
                    SELECT id, last_seq, \(id), \(body), \(now), \(size), \(expires) FROM issued
                    """, logger)
            }
            return (DropResult(id: Hex.encode(envelopeID), accepted: accepted, refused: refused, full: full), fresh)
        }, afterCommit: { connection, drop in await Self.notify(drop.fresh, on: connection, logger) }).result
    }

    /// Tells the relay processes listening on `kith_mail` that these
    /// mailboxes got mail: after the drop's commit, in a transaction of its
    /// own that does not wait for its WAL flush. Inside the drop's
    /// transaction it would serialise every drop's commit across the
    /// server (PostgreSQL holds a global lock from queueing notifications
    /// through the commit's flush). A notice that is lost, with the
    /// connection or the server, is harmless: a waiting owner's wait ends
    /// by its timeout and its next fetch finds the mail.
    static func notify(_ mailboxes: [[UInt8]], on connection: PostgresConnection, _ logger: Logger) async {
        guard !mailboxes.isEmpty else { return }
        do {
            _ = try await connection.rows("BEGIN", logger)
            _ = try await connection.rows("SET LOCAL synchronous_commit = off", logger)
            for payload in notificationPayloads(mailboxes) {
                _ = try await connection.rows("SELECT pg_notify(\(channel), \(payload))", logger)
            }
            _ = try await connection.rows("COMMIT", logger)
        } catch {
            _ = try? await connection.rows("ROLLBACK", logger)
            logger.warning("could not notify other relay processes of new mail", metadata: ["error": "\((error as? PSQLError)?.sqlState ?? String(describing: type(of: error)))"])
        }
    }

    /// `ttl` seconds from `now`, as stored (the largest time if that is past it).
    static func expiry(now: UInt64, ttl: UInt64) -> Int64 {
        let (end, overflow) = now.addingReportingOverflow(ttl)
        return Int64(clamping: overflow ? UInt64.max : end)
    }

    /// `NOTIFY` payloads (at most 8,000 bytes each) naming these mailboxes: hex, comma separated.
    static func notificationPayloads(_ mailboxes: [[UInt8]]) -> [String] {
        stride(from: 0, to: mailboxes.count, by: 100).map { start in
            mailboxes[start..<min(start + 100, mailboxes.count)].map { Hex.encode($0) }.joined(separator: ",")
        }
    }

    public func listBatch(mailbox: [UInt8], after: UInt64, limit: Int, maxBytes: Int) async throws -> BatchListing {
        let limit = max(1, min(limit, 1_000_000))
        let logger = self.logger, id = bytea(mailbox), after = Int64(clamping: after), rowLimit = Int64(limit + 1)
        let rows = try await read { connection in
            try await connection.rows("""
                SELECT seq, received_at, size FROM delivery WHERE mailbox = \(id) AND seq > \(after) ORDER BY seq LIMIT \(rowLimit)
                """, logger).map { try $0.decode((Int64, Int64, Int64).self) }
        }
        var entries: [BatchListing.Entry] = []
        var bytes = 0
        for (seq, receivedAt, size) in rows {
            let length = Int(clamping: size)
            if entries.count == limit || (!entries.isEmpty && bytes + length > maxBytes) {
                return BatchListing(entries: entries, more: true)
            }
            bytes += length
            entries.append(.init(sequence: UInt64(clamping: seq), receivedAt: UInt64(clamping: receivedAt), length: length))
        }
        return BatchListing(entries: entries, more: false)
    }

    public func readPage(mailbox: [UInt8], _ page: ArraySlice<BatchListing.Entry>) async throws -> [[UInt8]] {
        guard let first = page.first?.sequence, let last = page.last?.sequence else { return [] }
        let logger = self.logger, id = bytea(mailbox), from = Int64(clamping: first), to = Int64(clamping: last)
        let bodies = try await read { connection in
            try await connection.rows("""
                SELECT d.seq, b.data FROM delivery d JOIN body b ON b.id = d.body
                WHERE d.mailbox = \(id) AND d.seq >= \(from) AND d.seq <= \(to) ORDER BY d.seq
                """, logger).map { row -> (Int64, [UInt8]) in
                let (seq, data) = try row.decode((Int64, ByteBuffer).self)
                return (seq, data.bytes)
            }
        }
        guard bodies.count == page.count else { throw BatchListing.Vanished() }
        return try zip(page, bodies).map { entry, body in
            guard Int64(clamping: entry.sequence) == body.0, entry.length == body.1.count else { throw BatchListing.Vanished() }
            return body.1
        }
    }

    /// Locks the mailbox's row first (as a drop does), so that a drop of the
    /// same envelope and this acknowledgement take turns.
    public func acknowledge(mailbox: [UInt8], ids: [[UInt8]]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        let logger = self.logger, id = bytea(mailbox), envelopes = ids.map { bytea($0) }
        let shard = Int16.random(in: 0..<Int16(Self.storeTotalShards))
        return try await transaction { connection in
            guard try await !connection.rows("SELECT 1 FROM mailbox WHERE id = \(id) FOR UPDATE", logger).isEmpty else { return 0 }
            let bodies = try await connection.rows("""
                WITH gone AS (DELETE FROM delivery WHERE mailbox = \(id) AND envelope = ANY(\(envelopes)::bytea[]) RETURNING body, size),
                     counted AS (UPDATE mailbox SET envelopes = envelopes - (SELECT count(*) FROM gone),
                                                    bytes = bytes - (SELECT coalesce(sum(size), 0) FROM gone) WHERE id = \(id))
                SELECT body FROM gone
                """, logger).map { try $0.decode(Int64.self) }
            try await Self.deleteUnreferencedBodies(Array(Set(bodies)), shard: shard, connection, logger)
            return bodies.count
        }
    }

    /// Deletes those of these bodies no reference is left to, and takes them
    /// off the relay's counts; returns how many. The bodies' rows are locked
    /// first (in order of id): two transactions that each deleted a reference
    /// to one body then take turns, and the second looks for references
    /// after the first committed, so that one of them deletes the body
    /// (without the lock, each would still see the other's reference).
    @discardableResult
    static func deleteUnreferencedBodies(_ bodies: [Int64], shard: Int16, _ connection: PostgresConnection, _ logger: Logger) async throws -> Int {
        guard !bodies.isEmpty else { return 0 }
        _ = try await connection.rows("SELECT 1 FROM body WHERE id = ANY(\(bodies)::bigint[]) ORDER BY id FOR UPDATE", logger)
        let rows = try await connection.rows("""
            WITH freed AS (DELETE FROM body b WHERE b.id = ANY(\(bodies)::bigint[])
                               AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.body = b.id) RETURNING size)
            UPDATE store_total SET bodies = bodies - (SELECT count(*) FROM freed), body_bytes = body_bytes - (SELECT coalesce(sum(size), 0) FROM freed)
            WHERE shard = \(shard) RETURNING (SELECT count(*) FROM freed)
            """, logger)
        return try Int(rows.first?.decode(Int64.self) ?? 0)
    }

    public func addInvite(_ invite: RelayInvite, now: UInt64) async throws {
        let logger = self.logger, hash = bytea(invite.hash), now = Int64(clamping: now)
        try await read { connection in
            _ = try await connection.rows("INSERT INTO invite (hash, created_at) VALUES (\(hash), \(now))", logger)
        }
    }

    public func unusedInvites() async throws -> Int {
        let logger = self.logger
        return try await read { connection in
            let rows = try await connection.rows("SELECT count(*) FROM invite WHERE used_at IS NULL", logger)
            return try Int(rows.first?.decode(Int64.self) ?? 0)
        }
    }

    public func usage(of mailbox: [UInt8]) async throws -> (envelopes: Int, bytes: Int)? {
        let logger = self.logger, id = bytea(mailbox)
        let row = try await read { connection in
            try await connection.rows("SELECT envelopes, bytes FROM mailbox WHERE id = \(id)", logger).first?.decode((Int64, Int64).self)
        }
        return row.map { (Int($0.0), Int($0.1)) }
    }

    /// From the counters: the mailbox count, the 16 rows of totals, and each mailbox's own counts.
    public func counts() async throws -> RelayCounts {
        let logger = self.logger
        let row = try await read { connection in
            try await connection.rows("""
                SELECT (SELECT mailboxes FROM relay_total),
                       (SELECT coalesce(sum(envelopes), 0)::bigint FROM mailbox),
                       coalesce(sum(bodies), 0)::bigint, coalesce(sum(body_bytes), 0)::bigint,
                       coalesce(sum(blobs), 0)::bigint, coalesce(sum(blob_bytes), 0)::bigint
                FROM store_total
                """, logger).first?.decode((Int64, Int64, Int64, Int64, Int64, Int64).self)
        }
        guard let row else { return RelayCounts(mailboxes: 0, bodies: 0, deliveries: 0, bodyBytes: 0) }
        return RelayCounts(mailboxes: Int(row.0), bodies: Int(row.2), deliveries: Int(row.1), bodyBytes: Int(row.3),
                           blobs: Int(row.4), blobBytes: Int(row.5))
    }
}
