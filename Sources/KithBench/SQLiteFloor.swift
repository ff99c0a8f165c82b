import Foundation
import GRDBSQLite
import KithCrypto
import KithNode
import KithProtocol
import KithRelay

/// Floors measured straight through the SQLite C API: the same rows into the
/// same schema, in WAL mode with the same settings (`synchronous=FULL`),
/// batched as Kith batches, or one transaction per drop where that is the
/// floor.
final class SQLiteFloor {
    private var db: OpaquePointer?

    /// Opens `path` with the C API. `schema` runs first, if given.
    init(path: String, schema: String? = nil) throws {
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil) == SQLITE_OK else { throw BenchError("sqlite3_open_v2 failed") }
        // The relay's settings: a commit is on disk when it returns.
        try exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON")
        if let schema { try exec(schema) }
    }

    deinit { sqlite3_close_v2(db) }

    func exec(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw BenchError("sqlite: \(String(cString: sqlite3_errmsg(db)))") }
    }

    var synchronous: Int {
        var stmt: OpaquePointer?
        sqlite3_prepare_v2(db, "PRAGMA synchronous", -1, &stmt, nil)
        defer { sqlite3_finalize(stmt) }
        return sqlite3_step(stmt) == SQLITE_ROW ? Int(sqlite3_column_int(stmt, 0)) : -1
    }

    /// The row id of the last row inserted.
    var lastRowID: Int { Int(sqlite3_last_insert_rowid(db)) }

    func prepare(_ sql: String) throws -> OpaquePointer? {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK else { throw BenchError("sqlite: \(String(cString: sqlite3_errmsg(db)))") }
        return stmt
    }

    func run(_ stmt: OpaquePointer?, _ values: [Any]) throws {
        sqlite3_reset(stmt)
        for (i, value) in values.enumerated() {
            let index = Int32(i + 1)
            switch value {
            case let bytes as [UInt8]:
                _ = bytes.withUnsafeBytes { sqlite3_bind_blob(stmt, index, $0.baseAddress, Int32(bytes.count), SQLITE_TRANSIENT_BENCH) }
            case let text as String:
                sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT_BENCH)
            case let n as Int:
                sqlite3_bind_int64(stmt, index, Int64(n))
            default:
                throw BenchError("unsupported value")
            }
        }
        guard sqlite3_step(stmt) == SQLITE_DONE else { throw BenchError("sqlite: \(String(cString: sqlite3_errmsg(db)))") }
    }

    /// Relay ingest floor: `drops` bodies, each with `targets` references
    /// and the counts of their mailboxes, into a database with the relay's
    /// own schema; one transaction per drop, as the relay commits each
    /// upload. Returns drops per second.
    static func relayIngest(directory: String, drops: Int, targets: Int, envelopeBytes: Int) async throws -> (rate: Double, synchronous: Int) {
        let path = directory + "/floor-relay.sqlite"
        // The relay's migrations make the schema; the floor then writes with the C API.
        var mailboxes: [[UInt8]] = []
        do {
            let store = try SQLiteRelayStore(path: path)
            for _ in 0..<targets {
                let m = randomBytes(32)
                _ = try await store.register(mailbox: m, now: 1)
                mailboxes.append(m)
            }
        }
        let floor = try SQLiteFloor(path: path)
        let body = try floor.prepare("INSERT INTO body (data, created_at, expires_at) VALUES (?, ?, ?)")
        let delivery = try floor.prepare("INSERT INTO delivery (mailbox, envelope, body, received_at, size, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
        let count = try floor.prepare("UPDATE mailbox SET envelopes = envelopes + 1, bytes = bytes + ? WHERE id = ?")
        defer { sqlite3_finalize(body); sqlite3_finalize(delivery); sqlite3_finalize(count) }
        let rows = (0..<drops).map { _ in Envelope(kind: .post, payload: randomBytes(envelopeBytes - 6)).bytes }
        let ids = rows.map { Envelope.id(of: $0) }
        let seconds = try Measure.seconds {
            for (id, data) in zip(ids, rows) {
                try floor.exec("BEGIN IMMEDIATE")
                try floor.run(body, [data, 1, 1000])
                let stored = floor.lastRowID
                for m in mailboxes {
                    try floor.run(delivery, [m, id, stored, 1, data.count, 1000])
                    try floor.run(count, [data.count, m])
                }
                try floor.exec("COMMIT")
            }
        }
        return (Double(drops) / seconds, floor.synchronous)
    }

    /// Sync floor: open each post, seal its text for storage (one
    /// XChaCha20-Poly1305 encryption, the least a node that keeps its feed
    /// encrypted at rest must do) and insert it with the C API, 256 posts per
    /// transaction as the node batches. Returns posts per second.
    static func openAndStore(directory: String, envelopes: [[UInt8]], audience: AudienceKey) throws -> Double {
        let floor = try SQLiteFloor(path: directory + "/floor-node.sqlite", schema: """
            CREATE TABLE post (id BLOB PRIMARY KEY NOT NULL, author BLOB NOT NULL, audience BLOB NOT NULL, epoch INTEGER NOT NULL,
                text TEXT NOT NULL, created_at INTEGER NOT NULL)
            """)
        let insert = try floor.prepare("INSERT INTO post (id, author, audience, epoch, text, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        defer { sqlite3_finalize(insert) }
        let now = Node.now()
        let storageKey = SecretBytes(random: AEAD.keyLength)
        let seconds = try Measure.seconds {
            for chunk in stride(from: 0, to: envelopes.count, by: 256) {
                try floor.exec("BEGIN IMMEDIATE")
                for bytes in envelopes[chunk..<min(chunk + 256, envelopes.count)] {
                    let post = try Post.open(try Envelope(bytes: bytes), audience: audience, now: now)
                    let nonce = randomBytes(AEAD.nonceLength)
                    let text = nonce + (try AEAD.seal(Array(post.text.utf8), key: storageKey, nonce: nonce, associatedData: []))
                    try floor.run(insert, [post.id, post.author, post.audienceID, Int(post.epoch), text, Int(post.createdAt)])
                }
                try floor.exec("COMMIT")
            }
        }
        return Double(envelopes.count) / seconds
    }
}

/// SQLITE_TRANSIENT, which the C macro defines as a cast Swift cannot import.
let SQLITE_TRANSIENT_BENCH = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
