import Foundation
import GRDB

/// The node's SQLite database: friends, audiences, audience keys (encrypted
/// with the keystore's storage key), the decrypted feed, the inbox of
/// fetched envelopes and the outbox of deliveries. What is personal in it
/// (names, cards, drop tokens, post text, queued requests) is sealed under
/// the storage key too (`AtRest`), so the last migration needs the keystore:
/// opening runs the others, `unlock` runs it.
public struct NodeDatabase: Sendable {
    public static let fileName = "node.sqlite"
    let writer: any DatabaseWriter

    /// Opens the database at `path`, creating it private (0600) if it is
    /// missing. Refuses, before SQLite touches anything, a database that
    /// other users could read or change: its directory must not be writable
    /// by group or others, and the database, WAL and shared-memory files must
    /// belong to the current user with no access for group or others.
    public init(path: String) throws {
        try Self.requirePrivate(path: path)
        try SecureFile.createPrivateIfMissing(path)
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.foreignKeysEnabled = true
        config.prepareDatabase { db in
            // Deleted and overwritten content is zeroed, not left in free pages:
            // erased values (an expired inbox body, a removed friend) are gone from the file.
            try db.execute(sql: "PRAGMA secure_delete = ON")
            // A commit is on disk when it returns: fetched envelopes are
            // committed before the relay is told to delete them.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        writer = try DatabasePool(path: path, configuration: config)
        // GRDB sets synchronous=NORMAL on the pool's writer when it turns WAL on, after prepareDatabase.
        try writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let migrator = Self.migrator(atRest: nil)
        if try !writer.read({ try migrator.appliedIdentifiers($0) }).contains(Self.lastKeylessMigration) {
            try migrator.migrate(writer, upTo: Self.lastKeylessMigration)
        }
    }

    /// The last migration that runs without the keystore: those after it
    /// run at `completeMigrations(atRest:)`.
    static let lastKeylessMigration = "v5-friend-encryption-key"

    /// Runs the migrations that need the storage key, then finishes any
    /// wipe they left pending (`wipeFreedContent`).
    func completeMigrations(atRest: AtRest) throws {
        try Self.migrator(atRest: atRest).migrate(writer)
        if try profileValue(Self.wipePending) != nil { try wipeFreedContent() }
    }

    /// Set, in the transaction that seals an earlier version's plaintext, until
    /// that plaintext is wiped from free pages and the log: a crash or a busy
    /// log in between leaves the wipe to the next unlock, never undone.
    static let wipePending = "wipe_pending"

    /// Rewrites the database without its free pages (VACUUM) and truncates
    /// the write-ahead log, so that nothing deleted or overwritten before is
    /// left in either file. While another connection reads, the log cannot be
    /// truncated: the wipe then stays pending.
    func wipeFreedContent() throws {
        try writer.vacuum()
        let truncated = try writer.writeWithoutTransaction { db in
            try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)").map { ($0[0] as Int) == 0 } ?? false
        }
        if truncated { try writer.write { db in try db.execute(sql: "DELETE FROM profile WHERE key = ?", arguments: [Self.wipePending]) } }
    }

    /// See `init(path:)`.
    static func requirePrivate(path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try SecureFile.requirePrivateIfPresent(directory.isEmpty ? "." : directory, forbidden: 0o022, fix: "700",
                                               problem: "is writable by other users")
        for suffix in ["", "-wal", "-shm"] {
            try SecureFile.requirePrivateIfPresent(path + suffix)
        }
    }

    static func migrator(atRest: AtRest?) -> DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE profile (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL);
                CREATE TABLE mailbox (relay TEXT PRIMARY KEY NOT NULL, mailbox BLOB NOT NULL);
                CREATE TABLE issued_token (hash BLOB PRIMARY KEY NOT NULL, relay TEXT NOT NULL REFERENCES mailbox(relay), created_at INTEGER NOT NULL);
                CREATE TABLE friend (identity BLOB PRIMARY KEY NOT NULL, name TEXT NOT NULL UNIQUE, card TEXT NOT NULL,
                    card_sequence INTEGER NOT NULL, added_at INTEGER NOT NULL);
                CREATE TABLE friend_inbox (friend BLOB NOT NULL REFERENCES friend(identity) ON DELETE CASCADE, relay TEXT NOT NULL,
                    mailbox BLOB NOT NULL, drop_token BLOB NOT NULL, PRIMARY KEY (friend, relay, mailbox));
                CREATE TABLE audience (id BLOB PRIMARY KEY NOT NULL, name TEXT NOT NULL UNIQUE, epoch INTEGER NOT NULL, created_at INTEGER NOT NULL);
                CREATE TABLE audience_member (audience BLOB NOT NULL REFERENCES audience(id), friend BLOB NOT NULL REFERENCES friend(identity),
                    added_at INTEGER NOT NULL, PRIMARY KEY (audience, friend));
                CREATE TABLE audience_key (key_id BLOB PRIMARY KEY NOT NULL, owner BLOB NOT NULL, audience BLOB NOT NULL, epoch INTEGER NOT NULL,
                    name TEXT NOT NULL, sealed_key BLOB NOT NULL, received_at INTEGER NOT NULL);
                CREATE UNIQUE INDEX audience_key_epoch ON audience_key(owner, audience, epoch);
                CREATE TABLE post (id BLOB PRIMARY KEY NOT NULL, author BLOB NOT NULL, audience_owner BLOB NOT NULL, audience BLOB NOT NULL,
                    audience_name TEXT NOT NULL, epoch INTEGER NOT NULL, text TEXT NOT NULL, created_at INTEGER NOT NULL,
                    received_at INTEGER NOT NULL, envelope_id BLOB);
                CREATE INDEX post_created ON post(created_at);
                CREATE TABLE inbox (envelope_id BLOB PRIMARY KEY NOT NULL, data BLOB NOT NULL, relay TEXT NOT NULL,
                    received_at INTEGER NOT NULL, state TEXT NOT NULL, detail TEXT);
                CREATE INDEX inbox_state ON inbox(state);
                CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, envelope_id BLOB NOT NULL, relay TEXT NOT NULL, part INTEGER NOT NULL, request BLOB NOT NULL,
                    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, last_error TEXT,
                    created_at INTEGER NOT NULL, UNIQUE (envelope_id, relay, part));
                CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
                """)
        }
        m.registerMigration("v2") { db in
            // Posts are keyed by (author, post id): one author cannot shadow another's post by reusing its id.
            // Pending envelopes record what they wait for, so they are tried again only once it is known.
            try db.execute(sql: """
                CREATE TABLE post_new (author BLOB NOT NULL, id BLOB NOT NULL, audience_owner BLOB NOT NULL, audience BLOB NOT NULL,
                    audience_name TEXT NOT NULL, epoch INTEGER NOT NULL, text TEXT NOT NULL, created_at INTEGER NOT NULL,
                    received_at INTEGER NOT NULL, envelope_id BLOB, PRIMARY KEY (author, id));
                INSERT INTO post_new (author, id, audience_owner, audience, audience_name, epoch, text, created_at, received_at, envelope_id)
                    SELECT author, id, audience_owner, audience, audience_name, epoch, text, created_at, received_at, envelope_id FROM post;
                DROP TABLE post;
                ALTER TABLE post_new RENAME TO post;
                CREATE INDEX post_created ON post(created_at);
                ALTER TABLE inbox ADD COLUMN wait_key BLOB;
                CREATE INDEX inbox_wait ON inbox(wait_key) WHERE state = 'pending';
                """)
        }
        m.registerMigration("v3-verification") { db in
            // When I marked a friend verified (compared safety numbers), or NULL. It belongs to the
            // friend's row, whose key is the identity, so a replaced identity starts unverified.
            try db.execute(sql: "ALTER TABLE friend ADD COLUMN verified_at INTEGER")
        }
        m.registerMigration("v4-token-holder") { db in
            // Whom a card (and so each of its drop tokens) was given to, as the user named them at
            // `kith card --for NAME`, or NULL: `kith friend remove NAME` revokes those tokens.
            try db.execute(sql: "ALTER TABLE issued_token ADD COLUMN issued_to TEXT")
        }
        m.registerMigration("v5-friend-encryption-key") { db in
            // The newest encryption key certificate a friend's key update brought (112 bytes), or NULL:
            // envelopes are sealed to the newest valid one of it and the card's (Node+Rotation.swift).
            try db.execute(sql: "ALTER TABLE friend ADD COLUMN encryption_key BLOB")
        }
        m.registerMigration("v6-at-rest") { db in
            guard let atRest else { throw NodeError("the node database needs the keystore unlocked to be upgraded") }
            try sealPersonalData(db, atRest)
        }
        m.registerMigration("v7-inbox-changes") { db in
            // Friends' inbox updates (Node+Inboxes.swift): per inbox, the newest change applied, its
            // sequence, and for an addition the drop token (sealed like friend_inbox's). A newer card
            // replaces the changes it supersedes; those after it are applied over it again.
            try db.execute(sql: """
                CREATE TABLE friend_inbox_change (friend BLOB NOT NULL REFERENCES friend(identity) ON DELETE CASCADE, relay TEXT NOT NULL,
                    mailbox BLOB NOT NULL, sequence INTEGER NOT NULL, change INTEGER NOT NULL, drop_token BLOB,
                    PRIMARY KEY (friend, relay, mailbox));
                """)
        }
        m.registerMigration("v8-status") { db in
            // For `kith status`: each relay's last successful sync and last error (Node+Status.swift),
            // and when `kith feed` first showed a post (NULL: unread). Posts from before count as shown.
            try db.execute(sql: """
                CREATE TABLE relay_state (relay TEXT PRIMARY KEY NOT NULL, last_success_at INTEGER, last_error TEXT, last_error_at INTEGER);
                ALTER TABLE post ADD COLUMN shown_at INTEGER;
                UPDATE post SET shown_at = received_at;
                CREATE INDEX post_unshown ON post(author) WHERE shown_at IS NULL;
                """)
        }
        m.registerMigration("v9-conversations") { db in try createConversationTables(db) }
        m.registerMigration("v10-thread-envelopes") { db in try createThreadEnvelopeTable(db) }
        m.registerMigration("v11-edit-text-once") { db in
            // Each edit's text is in its post or comment already (`Node.overwrite`); the copy goes, and is wiped.
            try db.execute(sql: "UPDATE item_change SET text = NULL WHERE text IS NOT NULL")
            if db.changesCount > 0 { try setProfile(db, wipePending, Data()) }
        }
        m.registerMigration("v12-feed-order") { db in
            // The feed's order (Node+Feed.swift, docs/PROTOCOL.md "Ordering"): a post's or comment's effective time,
            // its claimed date brought into [arrival - 30 days, arrival], computed by SQLite, with an index to page by.
            let effective = "INTEGER NOT NULL GENERATED ALWAYS AS (max(min(created_at, received_at), received_at - 2592000)) VIRTUAL"
            try db.execute(sql: """
                ALTER TABLE post ADD COLUMN sort_at \(effective);
                ALTER TABLE comment ADD COLUMN sort_at \(effective);
                CREATE INDEX post_sort ON post(sort_at);
                DROP INDEX post_created;
                """)
        }
        m.registerMigration("v13-direct-and-members") { db in try createDirectTables(db) }
        m.registerMigration("v14-friend-invitations") { db in try createInvitationTables(db) }
        // The feed's newest comments of a post by the index, not by sorting them all.
        m.registerMigration("v15-comment-order") { db in
            try db.execute(sql: "CREATE INDEX comment_order ON comment(post_author, post_id, sort_at)")
        }
        m.registerMigration("v16-profiles") { db in try createProfileTables(db) }
        m.registerMigration("v17-attachments") { db in try createAttachmentTables(db) }
        m.registerMigration("v18-attachment-fetch-budget") { db in try createAttachmentBudgetTable(db) }
        // The feed filtered by author or by audience pages by these as the whole feed does by post_sort.
        m.registerMigration("v19-feed-filter-order") { db in
            try db.execute(sql: """
                CREATE INDEX post_author_sort ON post(author, sort_at);
                CREATE INDEX post_audience_sort ON post(audience_owner, audience, sort_at);
                """)
        }
        return m
    }

    /// Seals what earlier versions stored in the clear, in place: the columns
    /// keep their names and hold sealed BLOBs from now on, and the names that
    /// are looked up or kept unique get a tag column (see `AtRest`).
    static func sealPersonalData(_ db: Database, _ atRest: AtRest) throws {
        if try Bool.fetchOne(db, sql: "SELECT 1 FROM profile") == true { try setProfile(db, wipePending, Data()) }
        try db.execute(sql: """
            ALTER TABLE friend ADD COLUMN name_tag BLOB;
            ALTER TABLE audience ADD COLUMN name_tag BLOB;
            """)
        /// Sets `writing` from `reading` in every row of `table` (where `condition`), a page at a time by `key`.
        func rewrite(_ table: String, key: String, reading: [String], writing: [String], where condition: String = "1",
                     _ change: (Row) throws -> [(any DatabaseValueConvertible)?]) throws {
            var last: DatabaseValue?
            while true {
                let rows = try Row.fetchAll(db, sql: """
                    SELECT \(key), \(reading.joined(separator: ", ")) FROM \(table)
                    WHERE (\(condition)) \(last == nil ? "" : "AND \(key) > ?") ORDER BY \(key) LIMIT 500
                    """, arguments: StatementArguments(last.map { [$0] } ?? []))
                guard let end = rows.last else { return }
                for row in rows {
                    try db.execute(sql: "UPDATE \(table) SET \(writing.map { "\($0) = ?" }.joined(separator: ", ")) WHERE \(key) = ?",
                                   arguments: StatementArguments(try change(row) + [row[0] as DatabaseValue]))
                }
                last = end[0]
            }
        }
        try rewrite("friend", key: "identity", reading: ["name", "card"], writing: ["name", "name_tag", "card"]) { row in
            [try atRest.seal(row[1] as String, .friendName), atRest.tag(row[1], .friendName), try atRest.seal(row[2] as String, .card)]
        }
        try rewrite("audience", key: "id", reading: ["name"], writing: ["name", "name_tag"]) { row in
            [try atRest.seal(row[1] as String, .audienceName), atRest.tag(row[1], .audienceName)]
        }
        try rewrite("audience_key", key: "key_id", reading: ["name"], writing: ["name"]) { [try atRest.seal($0[1] as String, .keyName)] }
        try rewrite("post", key: "rowid", reading: ["text", "audience_name"], writing: ["text", "audience_name"]) { row in
            [try atRest.seal(row[1] as String, .postText), try atRest.seal(row[2] as String, .postAudience)]
        }
        try rewrite("friend_inbox", key: "rowid", reading: ["drop_token"], writing: ["drop_token"]) { [try atRest.seal([UInt8]($0[1] as Data), .dropToken)] }
        try rewrite("outbox", key: "id", reading: ["request"], writing: ["request"]) { [try atRest.seal([UInt8]($0[1] as Data), .request)] }
        try rewrite("issued_token", key: "hash", reading: ["issued_to"], writing: ["issued_to"], where: "issued_to IS NOT NULL") {
            [atRest.tag($0[1], .holder)]
        }
        try rewrite("profile", key: "key", reading: ["value"], writing: ["value"], where: "key = 'name'") { [try atRest.seal([UInt8]($0[1] as Data), .myName)] }
        try db.execute(sql: """
            CREATE UNIQUE INDEX friend_name ON friend(name_tag);
            CREATE UNIQUE INDEX audience_name ON audience(name_tag);
            """)
    }

}

// MARK: Profile

extension NodeDatabase {
    func profileValue(_ key: String) throws -> Data? {
        try writer.read { db in try Data.fetchOne(db, sql: "SELECT value FROM profile WHERE key = ?", arguments: [key]) }
    }

    static func setProfile(_ db: Database, _ key: String, _ value: Data) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO profile (key, value) VALUES (?, ?)", arguments: [key, value])
    }
}
