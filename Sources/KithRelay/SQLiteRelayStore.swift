import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// The relay's embedded store: one SQLite database in WAL mode with
/// `synchronous=FULL`, so that a commit is on disk when it returns. It holds
/// mailbox public keys, hashes of drop tokens, envelope bodies stored once in
/// the order they arrive, and one small reference per (mailbox, envelope).
/// Nothing in it names a person. Every method runs on GRDB's own queue, never blocking the
/// server's event loops on disk writes. Drops that arrive while one is being
/// committed are committed together in the next transaction, with those that
/// arrive while it runs (`DropQueue`).
public struct SQLiteRelayStore: RelayStorage {
    let writer: any DatabaseWriter
    let drops: DropQueue

    /// Opens (creating if needed) the database at `path`.
    public init(path: String) throws {
        try self.init(writer: DatabasePool(path: path, configuration: Self.configuration))
    }

    /// A store at `path` migrated only up to `migration`, for tests of later migrations.
    init(path: String, migratingUpTo migration: String) throws {
        writer = try DatabasePool(path: path, configuration: Self.configuration)
        try Self.requireFullSync(writer)
        try Self.migrator.migrate(writer, upTo: migration)
        drops = DropQueue(writer: writer)
    }

    /// An in-memory store, for tests.
    public init() throws {
        try self.init(writer: DatabaseQueue(configuration: Self.configuration))
    }

    private init(writer: any DatabaseWriter) throws {
        self.writer = writer
        try Self.requireFullSync(writer)
        try Self.requireIncrementalVacuum(writer)
        try Self.migrator.migrate(writer)
        drops = DropQueue(writer: writer)
    }

    /// Makes the database give deleted space back to the file system
    /// (`auto_vacuum = INCREMENTAL`, which `collect` then runs). Switching
    /// takes one `VACUUM`: at once for a new database, once for one an
    /// earlier version made.
    static func requireIncrementalVacuum(_ writer: any DatabaseWriter) throws {
        try writer.writeWithoutTransaction { db in
            guard try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") != 2 else { return }
            try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
            try db.execute(sql: "VACUUM")
        }
    }

    /// The committing connection's `PRAGMA synchronous` (2 is FULL), for reports.
    public func synchronous() async throws -> Int {
        try await writer.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// The committing connection checkpoints the write-ahead log into the
    /// database once it holds this many pages (40 MiB), not SQLite's 1,000:
    /// in a large store each drop and acknowledgement touches pages far
    /// apart, and fewer, larger checkpoints write each page back once for
    /// several commits instead of once each.
    static let checkpointPages = 10_000

    static var configuration: Configuration {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = \(checkpointPages)")
        }
        return config
    }

    /// GRDB sets `synchronous=NORMAL` on a pool's writer when it turns WAL
    /// on, after `prepareDatabase` ran: with NORMAL a commit acknowledged
    /// just before a power cut can be lost. The writer is the one connection
    /// that commits, so FULL is set on it here.
    static func requireFullSync(_ writer: any DatabaseWriter) throws {
        try writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE mailbox (id BLOB PRIMARY KEY NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE drop_token (hash BLOB PRIMARY KEY NOT NULL, mailbox BLOB NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE, created_at INTEGER NOT NULL) WITHOUT ROWID;
                CREATE INDEX drop_token_mailbox ON drop_token(mailbox);
                CREATE TABLE body (id BLOB PRIMARY KEY NOT NULL, data BLOB NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
                CREATE INDEX body_expiry ON body(expires_at);
                CREATE TABLE delivery (seq INTEGER PRIMARY KEY AUTOINCREMENT, mailbox BLOB NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
                    body_id BLOB NOT NULL REFERENCES body(id) ON DELETE CASCADE, received_at INTEGER NOT NULL);
                CREATE UNIQUE INDEX delivery_mailbox_body ON delivery(mailbox, body_id);
                CREATE INDEX delivery_body ON delivery(body_id);
                CREATE INDEX delivery_mailbox_seq ON delivery(mailbox, seq);
                CREATE TABLE request_nonce (mailbox BLOB NOT NULL, nonce BLOB NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (mailbox, nonce)) WITHOUT ROWID;
                CREATE INDEX request_nonce_expiry ON request_nonce(expires_at);
                """)
        }
        // v1 keyed drop tokens by hash alone, so a second mailbox registering
        // the same hash was told 201 and got nothing. Key them by (mailbox, hash).
        m.registerMigration("v2") { db in
            try db.execute(sql: """
                CREATE TABLE drop_token_v2 (mailbox BLOB NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE, hash BLOB NOT NULL,
                    created_at INTEGER NOT NULL, PRIMARY KEY (mailbox, hash)) WITHOUT ROWID;
                INSERT INTO drop_token_v2 (mailbox, hash, created_at) SELECT mailbox, hash, created_at FROM drop_token;
                DROP TABLE drop_token;
                ALTER TABLE drop_token_v2 RENAME TO drop_token;
                """)
        }
        // Quotas, a time to live per reference, and invite codes. Each
        // reference carries its envelope's size and its own expiry (fixed when
        // it is accepted); each mailbox counts its references and their bytes,
        // kept by triggers whatever deletes a reference (acknowledgement,
        // expiry, a cascade). Invite codes are stored as hashes, and a used
        // one is kept, marked, so that a second use can be told apart.
        m.registerMigration("v3") { db in
            try db.execute(sql: """
                ALTER TABLE mailbox ADD COLUMN envelopes INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE mailbox ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE delivery ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE delivery ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
                UPDATE delivery SET size = (SELECT length(data) FROM body WHERE body.id = delivery.body_id),
                    expires_at = (SELECT expires_at FROM body WHERE body.id = delivery.body_id);
                UPDATE mailbox SET envelopes = (SELECT count(*) FROM delivery WHERE delivery.mailbox = mailbox.id),
                    bytes = (SELECT coalesce(sum(size), 0) FROM delivery WHERE delivery.mailbox = mailbox.id);
                CREATE INDEX delivery_expiry ON delivery(expires_at);
                CREATE TRIGGER delivery_counted AFTER INSERT ON delivery BEGIN
                    UPDATE mailbox SET envelopes = envelopes + 1, bytes = bytes + NEW.size WHERE id = NEW.mailbox;
                END;
                CREATE TRIGGER delivery_uncounted AFTER DELETE ON delivery BEGIN
                    UPDATE mailbox SET envelopes = envelopes - 1, bytes = bytes - OLD.size WHERE id = OLD.mailbox;
                END;
                CREATE TABLE invite (hash BLOB PRIMARY KEY NOT NULL, created_at INTEGER NOT NULL, used_at INTEGER) WITHOUT ROWID;
                """)
        }
        // Bodies in the order they arrive, under an integer key, and
        // references that carry the envelope's id. v1 keyed bodies by their
        // 32-byte id, so each drop wrote its kilobyte into a random place of
        // one large tree, each acknowledgement deleted from random places of
        // it, and a mailbox's envelopes, read in arrival order, lay all over
        // the file: with a million stored, ingest and fetch slowed down. Now a
        // body goes to the end of its table; a reference is unique by
        // (mailbox, envelope id), so that finding a duplicate or acknowledging
        // stays within the mailbox's own part of that index, whatever the
        // relay holds; a mailbox's references are listed in arrival order by
        // an index on the mailbox alone (SQLite appends the row id, `seq`, to
        // every index entry). A body is shared by the mailboxes of one drop
        // (and by a later drop of the same envelope to a mailbox that still
        // holds it). The sequence numbers of references are kept, and so is
        // the counter that issues them, so a node's fetch position stays valid.
        m.registerMigration("v4-arrival-order") { db in
            let issued = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'delivery'") ?? 0
            try db.execute(sql: """
                CREATE TEMP TABLE body_seq (seq INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE);
                INSERT INTO body_seq (id) SELECT id FROM body ORDER BY created_at, id;
                CREATE TABLE body_v4 (seq INTEGER PRIMARY KEY, data BLOB NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
                INSERT INTO body_v4 (seq, data, created_at, expires_at)
                    SELECT s.seq, b.data, b.created_at, b.expires_at FROM body_seq s JOIN body b ON b.id = s.id ORDER BY s.seq;
                CREATE TABLE delivery_v4 (seq INTEGER PRIMARY KEY AUTOINCREMENT, mailbox BLOB NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
                    envelope BLOB NOT NULL, body INTEGER NOT NULL REFERENCES body_v4(seq),
                    received_at INTEGER NOT NULL, size INTEGER NOT NULL, expires_at INTEGER NOT NULL);
                INSERT INTO delivery_v4 (seq, mailbox, envelope, body, received_at, size, expires_at)
                    SELECT d.seq, d.mailbox, d.body_id, s.seq, d.received_at, d.size, d.expires_at
                    FROM delivery d JOIN body_seq s ON s.id = d.body_id ORDER BY d.seq;
                DROP TABLE body_seq;
                DROP TABLE delivery;
                DROP TABLE body;
                ALTER TABLE body_v4 RENAME TO body;
                ALTER TABLE delivery_v4 RENAME TO delivery;
                CREATE INDEX body_expiry ON body(expires_at);
                CREATE UNIQUE INDEX delivery_mailbox_envelope ON delivery(mailbox, envelope);
                CREATE INDEX delivery_mailbox ON delivery(mailbox);
                CREATE INDEX delivery_body ON delivery(body);
                CREATE INDEX delivery_expiry ON delivery(expires_at);
                CREATE TRIGGER delivery_counted AFTER INSERT ON delivery BEGIN
                    UPDATE mailbox SET envelopes = envelopes + 1, bytes = bytes + NEW.size WHERE id = NEW.mailbox;
                END;
                CREATE TRIGGER delivery_uncounted AFTER DELETE ON delivery BEGIN
                    UPDATE mailbox SET envelopes = envelopes - 1, bytes = bytes - OLD.size WHERE id = OLD.mailbox;
                END;
                """)
            let highest = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM delivery") ?? 0
            try db.execute(sql: "DELETE FROM sqlite_sequence WHERE name = 'delivery'")
            try db.execute(sql: "INSERT INTO sqlite_sequence (name, seq) VALUES ('delivery', ?)", arguments: [max(issued, highest)])
        }
        m.registerMigration("v5-friend-invitations") { db in try createInvitationTable(db) }
        m.registerMigration("v6-blobs") { db in try createBlobTables(db) }
        m.registerMigration("v7-blob-quota") { db in try countBlobsApart(db) }
        // A drop's references are counted in its mailboxes once per
        // transaction (`Batch.writeCounts`), not by a trigger once per
        // reference: a transaction of drops into one mailbox updates its
        // row once. Deleting a reference still counts it out by trigger.
        m.registerMigration("v8-ingest-counts") { db in try db.execute(sql: "DROP TRIGGER delivery_counted") }
        return m
    }

    public func mailboxExists(_ mailbox: [UInt8]) async throws -> Bool {
        try await writer.read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM mailbox WHERE id = ?", arguments: [Data(mailbox)]) ?? false
        }
    }

    /// Records a nonce of a signed request. Returns false if it was used already (a replay).
    public func useNonce(mailbox: [UInt8], nonce: [UInt8], expiresAt: UInt64) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: SQL.useNonce, arguments: [Data(mailbox), Data(nonce), Int64(clamping: expiresAt)])
            return db.changesCount == 1
        }
    }

    /// Allows drops into `mailbox` with the token whose hash this is.
    public func addToken(hash: [UInt8], mailbox: [UInt8], now: UInt64) async throws {
        try await writer.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO drop_token (hash, mailbox, created_at) VALUES (?, ?, ?)",
                           arguments: [Data(hash), Data(mailbox), now])
        }
    }

    /// Revokes a token. Returns false if the mailbox had no such token.
    public func removeToken(hash: [UInt8], mailbox: [UInt8]) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM drop_token WHERE hash = ? AND mailbox = ?", arguments: [Data(hash), Data(mailbox)])
            return db.changesCount == 1
        }
    }

    /// Drops are queued and committed together with those that arrive
    /// meanwhile (`DropQueue`): one drop refused does not refuse the others.
    /// Returns once the batch's commit is on disk.
    public func drop(_ request: DropRequest, now: UInt64, ttl: UInt64, quota: MailboxQuota?) async throws -> DropResult {
        try await drops.submit(request, now: now, ttl: ttl, quota: quota)
    }

    /// Several drops in one transaction (one commit, one sync to disk),
    /// without the queue; a `MailboxFull` refuses them all. For filling a
    /// store quickly.
    public func drop(_ requests: [DropRequest], now: UInt64, ttl: UInt64, quota: MailboxQuota? = nil) async throws -> [DropResult] {
        let prepared = requests.map(PreparedDrop.init)
        return try await writer.write { db in
            var batch = Batch()
            let results = try prepared.map { try Self.drop($0, db, now: now, ttl: ttl, quota: quota, batch: &batch) }
            try batch.writeCounts(db)
            return results
        }
    }

    /// A drop with what its transaction needs computed beforehand (the
    /// envelope's id, each token's hash, the blobs to bind), so that the
    /// writer, which every drop of a batch waits on, does no hashing or
    /// copying of its own.
    struct PreparedDrop: Sendable {
        let envelope: Data
        let id: Data
        let hexID: String
        /// Each target's mailbox and the hash of its token, in the request's order.
        let targets: [(mailbox: Data, tokenHash: Data)]

        init(_ request: DropRequest) {
            let envelopeID = Envelope.id(of: request.envelope)
            envelope = Data(request.envelope)
            id = Data(envelopeID)
            hexID = Hex.encode(envelopeID)
            targets = request.targets.list.map { (Data($0.mailbox), Data(DropToken.hash($0.token))) }
        }
    }

    /// The queries of the drop, fetch, acknowledge and collection paths, in
    /// one place so that a test can check that each one uses an index.
    enum SQL {
        /// One row if the token opens the mailbox: its counts.
        static let target = """
            SELECT m.envelopes, m.bytes FROM drop_token t JOIN mailbox m ON m.id = t.mailbox WHERE t.hash = ? AND t.mailbox = ?
            """
        /// The body of this envelope, if the mailbox holds it already.
        static let held = "SELECT body FROM delivery WHERE mailbox = ? AND envelope = ?"
        static let addCounts = "UPDATE mailbox SET envelopes = envelopes + ?, bytes = bytes + ? WHERE id = ?"
        static let insertBody = "INSERT INTO body (data, created_at, expires_at) VALUES (?, ?, ?)"
        static let extendBody = "UPDATE body SET expires_at = max(expires_at, ?) WHERE seq = ?"
        static let insertDelivery = """
            INSERT OR IGNORE INTO delivery (mailbox, envelope, body, received_at, size, expires_at) VALUES (?, ?, ?, ?, ?, ?)
            """
        static let listing = """
            SELECT d.seq, d.received_at, length(b.data) FROM delivery d JOIN body b ON b.seq = d.body
            WHERE d.mailbox = ? AND d.seq > ? ORDER BY d.seq LIMIT ?
            """
        static let page = """
            SELECT d.seq, b.data FROM delivery d JOIN body b ON b.seq = d.body
            WHERE d.mailbox = ? AND d.seq >= ? AND d.seq <= ? ORDER BY d.seq
            """
        /// The bodies of the mailbox's references to these envelopes.
        static func acknowledged(_ count: Int) -> String {
            "SELECT body FROM delivery WHERE mailbox = ? AND envelope IN (\(placeholders(count)))"
        }
        /// Deletes the mailbox's references to these envelopes.
        static func acknowledge(_ count: Int) -> String {
            "DELETE FROM delivery WHERE mailbox = ? AND envelope IN (\(placeholders(count)))"
        }
        static let expiredDeliveries = "SELECT seq, body FROM delivery WHERE expires_at <= ? ORDER BY expires_at LIMIT ?"
        static func deleteDeliveries(_ count: Int) -> String { "DELETE FROM delivery WHERE seq IN (\(placeholders(count)))" }
        static func unreferencedBodies(_ count: Int) -> String {
            "DELETE FROM body WHERE seq IN (\(placeholders(count))) AND NOT EXISTS (SELECT 1 FROM delivery WHERE delivery.body = body.seq)"
        }
        static let expiredBodies = """
            DELETE FROM body WHERE seq IN (SELECT seq FROM body WHERE expires_at <= ?
                AND NOT EXISTS (SELECT 1 FROM delivery WHERE delivery.body = body.seq) LIMIT ?)
            """
        static let expiredNonces = """
            DELETE FROM request_nonce WHERE (mailbox, nonce) IN (SELECT mailbox, nonce FROM request_nonce WHERE expires_at <= ? LIMIT ?)
            """
        static let useNonce = "INSERT OR IGNORE INTO request_nonce (mailbox, nonce, expires_at) VALUES (?, ?, ?)"

        static func placeholders(_ count: Int) -> String { Array(repeating: "?", count: count).joined(separator: ",") }
    }

    /// What one transaction of drops has learned so far: which targets'
    /// tokens open their mailboxes, and each mailbox's counts with the
    /// references the transaction added. A token is looked up once per
    /// transaction, not once per drop, and the counts of a mailbox are
    /// written once, by `writeCounts`, which the transaction must call
    /// before it commits.
    struct Batch {
        struct Counts {
            var envelopes = 0, bytes = 0
            mutating func add(_ size: Int) { envelopes += 1; bytes += size }
        }
        private struct Target: Hashable { let mailbox: Data, tokenHash: Data }
        private var opens: [Target: Bool] = [:]
        private var counts: [Data: Counts] = [:]
        private var added: [Data: Counts] = [:]

        /// The mailbox's counts, nil if the token does not open it.
        mutating func counts(_ mailbox: Data, tokenHash: Data, _ db: Database) throws -> Counts? {
            let target = Target(mailbox: mailbox, tokenHash: tokenHash)
            if opens[target] == nil {
                let row = try Row.fetchOne(db.cachedStatement(sql: SQL.target), arguments: [tokenHash, mailbox])
                opens[target] = row != nil
                if let row, counts[mailbox] == nil { counts[mailbox] = Counts(envelopes: row[0], bytes: row[1]) }
            }
            return opens[target] == true ? counts[mailbox] : nil
        }

        /// Counts a reference of `size` bytes added to the mailbox.
        mutating func add(_ mailbox: Data, size: Int) {
            counts[mailbox, default: Counts()].add(size)
            added[mailbox, default: Counts()].add(size)
        }

        /// Adds what the transaction stored to each mailbox's counts.
        func writeCounts(_ db: Database) throws {
            let update = try db.cachedStatement(sql: SQL.addCounts)
            for (mailbox, n) in added { try update.execute(arguments: [n.envelopes, n.bytes, mailbox]) }
        }
    }

    /// Stores one drop for the targets whose token is valid and whose
    /// mailbox has room. Everything it checks, it checks before it writes:
    /// when it throws `MailboxFull` it has written nothing, so a batch needs
    /// no savepoint per drop.
    static func drop(_ drop: PreparedDrop, _ db: Database, now: UInt64, ttl: UInt64, quota: MailboxQuota?, batch: inout Batch) throws -> DropResult {
        let size = drop.envelope.count
        var refused: [Int] = [], full: [Int] = []
        var accepted: [Data] = []
        /// The body of this envelope that a target's mailbox holds already, if any.
        var stored: Int64?
        let held = try db.cachedStatement(sql: SQL.held)
        for (i, target) in drop.targets.enumerated() {
            guard let counts = try batch.counts(target.mailbox, tokenHash: target.tokenHash, db) else {
                refused.append(i)
                continue
            }
            let body = try Int64.fetchOne(held, arguments: [target.mailbox, drop.id])
            if let body { stored = body }
            if let quota, body == nil, counts.envelopes >= quota.envelopes || counts.bytes > quota.bytes - size {
                full.append(i)
                continue
            }
            accepted.append(target.mailbox)
        }
        if accepted.isEmpty, let first = full.first { throw MailboxFull(target: first) }
        if !accepted.isEmpty {
            let expires = Int64(clamping: now.addingReportingOverflow(ttl).overflow ? UInt64.max : now + ttl)
            let body: Int64
            if let stored {
                try db.cachedStatement(sql: SQL.extendBody).execute(arguments: [expires, stored])
                body = stored
            } else {
                try db.cachedStatement(sql: SQL.insertBody).execute(arguments: [drop.envelope, now, expires])
                body = db.lastInsertedRowID
            }
            let insert = try db.cachedStatement(sql: SQL.insertDelivery)
            for mailbox in accepted {
                try insert.execute(arguments: [mailbox, drop.id, body, now, size, expires])
                if db.changesCount == 1 { batch.add(mailbox, size: size) }
            }
        }
        return DropResult(id: drop.hexID, accepted: accepted.count, refused: refused, full: full)
    }

    /// Which deliveries a fetch returns, without their bodies: one cheap read
    /// (SQLite takes a blob's length from its record header).
    public func listBatch(mailbox: [UInt8], after: UInt64, limit: Int, maxBytes: Int) async throws -> BatchListing {
        let limit = max(1, min(limit, 1_000_000))
        return try await writer.read { db in
            let rows = try Row.fetchCursor(db, sql: SQL.listing, arguments: [Data(mailbox), Int64(clamping: after), limit + 1])
            var entries: [BatchListing.Entry] = []
            var bytes = 0
            while let row = try rows.next() {
                let length: Int = row[2]
                if entries.count == limit || (!entries.isEmpty && bytes + length > maxBytes) {
                    return BatchListing(entries: entries, more: true)
                }
                bytes += length
                entries.append(.init(sequence: row[0], receivedAt: row[1], length: length))
            }
            return BatchListing(entries: entries, more: false)
        }
    }

    /// The bodies of these listed deliveries, in order. Throws `vanished` if
    /// any was acknowledged or expired since it was listed, or changed size:
    /// the caller must then abort its answer rather than send wrong bytes.
    public func readPage(mailbox: [UInt8], _ page: ArraySlice<BatchListing.Entry>) async throws -> [[UInt8]] {
        guard let first = page.first?.sequence, let last = page.last?.sequence else { return [] }
        let bodies = try await writer.read { db in
            try Row.fetchAll(db, sql: SQL.page, arguments: [Data(mailbox), Int64(clamping: first), Int64(clamping: last)])
                .map { row -> (UInt64, Data) in (row[0], row[1]) }
        }
        guard bodies.count == page.count else { throw BatchListing.Vanished() }
        return try zip(page, bodies).map { entry, body in
            guard entry.sequence == body.0, entry.length == body.1.count else { throw BatchListing.Vanished() }
            return [UInt8](body.1)
        }
    }

    /// Removes the mailbox's references to these envelopes and every body no
    /// mailbox references any more. Returns how many references were removed.
    public func acknowledge(mailbox: [UInt8], ids: [[UInt8]]) async throws -> Int {
        try await writer.write { db in
            var removed = 0
            for start in stride(from: 0, to: ids.count, by: 500) {
                let chunk = ids[start..<min(start + 500, ids.count)].map { Data($0) }
                let arguments = StatementArguments([Data(mailbox)] + chunk)
                let bodies = try Int64.fetchAll(db, sql: SQL.acknowledged(chunk.count), arguments: arguments)
                try db.execute(sql: SQL.acknowledge(chunk.count), arguments: arguments)
                removed += db.changesCount
                let distinct = Array(Set(bodies))
                if !distinct.isEmpty { try db.execute(sql: SQL.unreferencedBodies(distinct.count), arguments: StatementArguments(distinct)) }
            }
            return removed
        }
    }

    /// The database's size on disk, its write-ahead log checkpointed into it first.
    public func databaseBytes() async throws -> Int {
        try await writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            return try Int.fetchOne(db, sql: "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size") ?? 0
        }
    }

    public func counts() async throws -> RelayCounts {
        try await writer.read { db in
            let blobs = try Self.blobCounts(db)
            return RelayCounts(mailboxes: try Int.fetchOne(db, sql: "SELECT count(*) FROM mailbox") ?? 0,
                   bodies: try Int.fetchOne(db, sql: "SELECT count(*) FROM body") ?? 0,
                   deliveries: try Int.fetchOne(db, sql: "SELECT count(*) FROM delivery") ?? 0,
                   bodyBytes: try Int.fetchOne(db, sql: "SELECT coalesce(sum(length(data)), 0) FROM body") ?? 0,
                   blobs: blobs.blobs, blobBytes: blobs.bytes)
        }
    }
}

