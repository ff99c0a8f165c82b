import Foundation
import GRDB
import GRDBSQLite
import KithCrypto
import KithProtocol

extension SQLiteRelayStore {
    /// Blobs (encrypted attachments) by their id, each stored once however
    /// many mailboxes reference it, and one reference per (mailbox, blob)
    /// with its own expiry. A blob is a row of a rowid table so that it can
    /// be written and read a piece at a time (SQLite's incremental blob
    /// I/O) rather than bound or read whole. A reference counts in its
    /// mailbox's counts as one item of the blob's size, kept by triggers (a
    /// reference is always deleted before its blob, so the blob's size is
    /// there to read): here beside the deliveries', moved to counts of
    /// their own by `countBlobsApart`.
    static func createBlobTables(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE blob (id BLOB PRIMARY KEY NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL, created_at INTEGER NOT NULL);
            CREATE TABLE blob_ref (mailbox BLOB NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE, blob BLOB NOT NULL,
                received_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (mailbox, blob)) WITHOUT ROWID;
            CREATE INDEX blob_ref_blob ON blob_ref(blob);
            CREATE INDEX blob_ref_expiry ON blob_ref(expires_at);
            CREATE TRIGGER blob_ref_counted AFTER INSERT ON blob_ref BEGIN
                UPDATE mailbox SET envelopes = envelopes + 1, bytes = bytes + (SELECT size FROM blob WHERE id = NEW.blob) WHERE id = NEW.mailbox;
            END;
            CREATE TRIGGER blob_ref_uncounted AFTER DELETE ON blob_ref BEGIN
                UPDATE mailbox SET envelopes = envelopes - 1, bytes = bytes - coalesce((SELECT size FROM blob WHERE id = OLD.blob), 0)
                WHERE id = OLD.mailbox;
            END;
            """)
    }

    /// Blob references count in quotas of their own (the mailbox's `blobs`
    /// and `blob_bytes`), no longer in its envelopes and bytes: blobs must
    /// never make a mailbox refuse envelopes. The counts are moved over, and
    /// an owner's listing reads its references in order from an index.
    static func countBlobsApart(_ db: Database) throws {
        try db.execute(sql: """
            ALTER TABLE mailbox ADD COLUMN blobs INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE mailbox ADD COLUMN blob_bytes INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX blob_ref_listing ON blob_ref(mailbox, received_at);
            DROP TRIGGER blob_ref_counted;
            DROP TRIGGER blob_ref_uncounted;
            UPDATE mailbox SET blobs = (SELECT count(*) FROM blob_ref r WHERE r.mailbox = mailbox.id),
                blob_bytes = (SELECT coalesce(sum(b.size), 0) FROM blob_ref r JOIN blob b ON b.id = r.blob WHERE r.mailbox = mailbox.id);
            UPDATE mailbox SET envelopes = envelopes - blobs, bytes = bytes - blob_bytes;
            CREATE TRIGGER blob_ref_counted AFTER INSERT ON blob_ref BEGIN
                UPDATE mailbox SET blobs = blobs + 1, blob_bytes = blob_bytes + (SELECT size FROM blob WHERE id = NEW.blob) WHERE id = NEW.mailbox;
            END;
            CREATE TRIGGER blob_ref_uncounted AFTER DELETE ON blob_ref BEGIN
                UPDATE mailbox SET blobs = blobs - 1, blob_bytes = blob_bytes - coalesce((SELECT size FROM blob WHERE id = OLD.blob), 0)
                WHERE id = OLD.mailbox;
            END;
            """)
    }

    /// The queries of the blob paths, in one place so that a test can check
    /// that each one uses an index.
    enum BlobSQL {
        /// One row if the token opens the mailbox: its blob counts, and whether it references this blob already.
        static let target = """
            SELECT m.blobs, m.blob_bytes, EXISTS (SELECT 1 FROM blob_ref r WHERE r.mailbox = m.id AND r.blob = ?)
            FROM drop_token t JOIN mailbox m ON m.id = t.mailbox WHERE t.hash = ? AND t.mailbox = ?
            """
        static let stored = "SELECT rowid FROM blob WHERE id = ?"
        static let insert = "INSERT INTO blob (id, size, data, created_at) VALUES (?, ?, zeroblob(?), ?)"
        /// A mailbox named again for a blob it holds keeps one reference, living as long as the later upload's.
        static let insertReference = """
            INSERT INTO blob_ref (mailbox, blob, received_at, expires_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (mailbox, blob) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)
            """
        static let referenced = "SELECT b.size FROM blob_ref r JOIN blob b ON b.id = r.blob WHERE r.mailbox = ? AND r.blob = ?"
        static let release = "DELETE FROM blob_ref WHERE mailbox = ? AND blob = ?"
        static let deleteUnreferenced = "DELETE FROM blob WHERE id = ? AND NOT EXISTS (SELECT 1 FROM blob_ref r WHERE r.blob = blob.id)"
        static let valid = "SELECT 1 FROM drop_token WHERE hash = ? AND mailbox = ?"
        static let list = "SELECT blob, received_at, expires_at, (SELECT size FROM blob b WHERE b.id = r.blob) FROM blob_ref r WHERE r.mailbox = ? ORDER BY received_at, blob LIMIT ?"
        static let expired = "SELECT mailbox, blob FROM blob_ref WHERE expires_at <= ? ORDER BY expires_at LIMIT ?"
    }

    /// Stores the blob (once: not again if a blob with its id is stored) and
    /// a reference from each target whose token is valid and whose mailbox
    /// has room, in one transaction of its own: the drops' transactions are
    /// not made to wait on hashing, and not made longer. The id is hashed
    /// before the transaction; the blob is written into SQLite straight from
    /// `blob`, without another copy.
    public func storeBlob(_ blob: ArraySlice<UInt8>, for targets: [DropRequest.Target], now: UInt64, ttl: UInt64,
                          quota: MailboxQuota?) async throws -> DropResult {
        let hash = Self.blobID(blob)
        let id = Data(hash)
        let checked = targets.map { (mailbox: Data($0.mailbox), tokenHash: Data(DropToken.hash($0.token))) }
        let size = blob.count
        let expires = Int64(clamping: now.addingReportingOverflow(ttl).overflow ? UInt64.max : now + ttl)
        return try await writer.write { db in
            var refused: [Int] = [], full: [Int] = [], accepted: [Data] = []
            let check = try db.cachedStatement(sql: BlobSQL.target)
            for (i, target) in checked.enumerated() {
                guard let row = try Row.fetchOne(check, arguments: [id, target.tokenHash, target.mailbox]) else {
                    refused.append(i)
                    continue
                }
                let blobs: Int = row[0], bytes: Int = row[1], held: Bool = row[2]
                if let quota, !held, blobs >= quota.blobs || bytes > quota.blobBytes - size {
                    full.append(i)
                    continue
                }
                accepted.append(target.mailbox)
            }
            if accepted.isEmpty, let first = full.first { throw MailboxFull(target: first) }
            if !accepted.isEmpty {
                if try Int64.fetchOne(db, sql: BlobSQL.stored, arguments: [id]) == nil {
                    try db.execute(sql: BlobSQL.insert, arguments: [id, size, size, Int64(clamping: now)])
                    try Self.write(blob, row: db.lastInsertedRowID, db)
                }
                let insert = try db.cachedStatement(sql: BlobSQL.insertReference)
                for mailbox in accepted { try insert.execute(arguments: [mailbox, id, Int64(clamping: now), expires]) }
            }
            return DropResult(id: Hex.encode(hash), accepted: accepted.count, refused: refused, full: full)
        }
    }

    /// Whether any target's token is valid for its mailbox: read before an
    /// upload's blob is, so that one no token opens is refused early.
    public func anyValidToken(_ targets: [DropRequest.Target]) async throws -> Bool {
        try await writer.read { db in
            let check = try db.cachedStatement(sql: BlobSQL.valid)
            for target in targets where try Int.fetchOne(check, arguments: [Data(DropToken.hash(target.token)), Data(target.mailbox)]) != nil {
                return true
            }
            return false
        }
    }

    /// The mailbox's blob references, oldest first, at most `limit`.
    public func blobs(of mailbox: [UInt8], limit: Int) async throws -> [BlobListing] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: BlobSQL.list, arguments: [Data(mailbox), limit]).map { row in
                let id: Data = row[0]
                return BlobListing(id: Base64URL.encode(Array(id)), size: row[3] ?? 0, receivedAt: row[1], expiresAt: row[2])
            }
        }
    }

    /// The blob's size, if `mailbox` holds a reference to it.
    public func blobSize(id: [UInt8], mailbox: [UInt8]) async throws -> Int? {
        try await writer.read { db in try Int.fetchOne(db, sql: BlobSQL.referenced, arguments: [Data(mailbox), Data(id)]) }
    }

    /// Up to `length` bytes of the blob from `offset`, read with SQLite's
    /// incremental blob I/O (only those pages are read). Throws
    /// `BlobVanished` if the blob is no longer stored.
    public func readBlob(id: [UInt8], offset: Int, length: Int) async throws -> [UInt8] {
        try await writer.read { db in
            guard let row = try Int64.fetchOne(db, sql: BlobSQL.stored, arguments: [Data(id)]) else { throw BlobVanished() }
            var handle: OpaquePointer?
            guard sqlite3_blob_open(db.sqliteConnection, "main", "blob", "data", row, 0, &handle) == SQLITE_OK, let handle else {
                sqlite3_blob_close(handle)
                throw BlobVanished()
            }
            defer { sqlite3_blob_close(handle) }
            let total = Int(sqlite3_blob_bytes(handle))
            guard offset >= 0, offset <= total else { throw BlobVanished() }
            let count = min(max(0, length), total - offset)
            var failed = false
            let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0, sqlite3_blob_read(handle, buffer.baseAddress, Int32(count), Int32(offset)) != SQLITE_OK { failed = true }
                initialized = failed ? 0 : count
            }
            if failed { throw DatabaseError(resultCode: .init(rawValue: sqlite3_errcode(db.sqliteConnection)), message: "reading a blob failed") }
            return bytes
        }
    }

    /// Removes the mailbox's reference to the blob, and the blob at once if
    /// no mailbox references it any more. False if the mailbox held none.
    public func releaseBlob(id: [UInt8], mailbox: [UInt8]) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: BlobSQL.release, arguments: [Data(mailbox), Data(id)])
            guard db.changesCount == 1 else { return false }
            try db.execute(sql: BlobSQL.deleteUnreferenced, arguments: [Data(id)])
            return true
        }
    }

    /// Deletes expired blob references and then the blobs they leave
    /// unreferenced, `batch` references a transaction.
    func collectBlobs(now: Int64, batch: Int) async throws -> (references: Int, blobs: Int) {
        var references = 0, blobs = 0
        while true {
            let (removed, deleted) = try await writer.write { db -> (Int, Int) in
                let rows = try Row.fetchAll(db, sql: BlobSQL.expired, arguments: [now, batch])
                let release = try db.cachedStatement(sql: BlobSQL.release)
                for row in rows { try release.execute(arguments: [row[0] as Data, row[1] as Data]) }
                var deleted = 0
                let unreferenced = try db.cachedStatement(sql: BlobSQL.deleteUnreferenced)
                for id in Set(rows.map { $0[1] as Data }) {
                    try unreferenced.execute(arguments: [id])
                    deleted += db.changesCount
                }
                return (rows.count, deleted)
            }
            references += removed
            blobs += deleted
            if removed < batch { return (references, blobs) }
        }
    }

    /// Blobs stored and their bytes.
    static func blobCounts(_ db: Database) throws -> (blobs: Int, bytes: Int) {
        let row = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(size), 0) FROM blob")
        return (row?[0] ?? 0, row?[1] ?? 0)
    }

    /// Writes `bytes` into the zero-filled blob of row `row`, a megabyte at a time.
    private static func write(_ bytes: ArraySlice<UInt8>, row: Int64, _ db: Database) throws {
        var handle: OpaquePointer?
        var rc = sqlite3_blob_open(db.sqliteConnection, "main", "blob", "data", row, 1, &handle)
        defer { sqlite3_blob_close(handle) }
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while rc == SQLITE_OK, offset < buffer.count, let base = buffer.baseAddress {
                let n = min(1 << 20, buffer.count - offset)
                rc = sqlite3_blob_write(handle, base + offset, Int32(n), Int32(offset))
                offset += n
            }
            guard rc == SQLITE_OK else {
                throw DatabaseError(resultCode: .init(rawValue: rc), message: "writing a blob failed")
            }
        }
    }

    /// A blob's id: BLAKE2b-256 of its bytes, hashed in place.
    static func blobID(_ blob: ArraySlice<UInt8>) -> [UInt8] {
        let hash = Hash.Blake2bStream(length: 32)
        hash.update(blob)
        return hash.finish()
    }
}

/// A blob being read was deleted (released by its last owner, or expired)
/// since its answer began: the answer must be cut short.
public struct BlobVanished: Error {
    public init() {}
}
