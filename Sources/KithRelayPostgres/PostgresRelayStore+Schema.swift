import KithRelay
import Logging
import PostgresNIO

extension PostgresRelayStore {
    /// A change of the schema, applied once, in order, by name.
    struct Migration {
        let name: String
        let statements: [String]
    }

    /// The key of the advisory lock that migrations run under ("kith" in ASCII).
    static let migrationLock: Int64 = 0x6B69_7468

    /// The schema. What it holds is the embedded store's, laid out for a
    /// server that several relay processes write at once:
    ///
    /// - `mailbox` carries, besides its key, everything a drop must check
    ///   and change under one row lock: the last sequence number issued to
    ///   it (`last_seq`) and its counts (envelopes and their bytes, blobs
    ///   and theirs). A drop locks the rows of its target mailboxes (in the
    ///   order of their ids, so that two drops never wait on each other in
    ///   a circle), checks the quotas against the counts, takes the next
    ///   sequence numbers and adds to the counts, all in its transaction:
    ///   quotas hold whatever number of drops run at once in however many
    ///   processes, and no query sums a mailbox's rows.
    /// - Sequence numbers come from that counter, not from a global
    ///   sequence: a `SEQUENCE` hands out numbers at once, in the order
    ///   drops ask, but they commit in any order, so a fetch could see
    ///   number n+1 committed while n is still in flight, move past it, and
    ///   never see n. The counter row's lock is held until commit, so the
    ///   next drop into the mailbox takes n+1 only after n committed: a
    ///   reader never sees n+1 before n.
    /// - `body` is an envelope, stored once per drop and referenced by each
    ///   `delivery` (one per mailbox and envelope, keyed by mailbox and
    ///   sequence number, so a fetch reads the mailbox's part of that index
    ///   in order). A body goes when its last reference does, in the same
    ///   transaction.
    /// - `blob` holds an attachment's bytes in a `bytea` stored out of line
    ///   and uncompressed (`STORAGE EXTERNAL`: encrypted bytes do not
    ///   compress), so that `substring` reads only the part asked for.
    /// - `store_total` keeps the relay's counts of bodies and blobs in 16
    ///   rows, each transaction adding to one of them at random: status
    ///   output reads 16 rows rather than every body, and drops do not all
    ///   wait on one row.
    /// - `relay_total` counts the mailboxes, so that registrations racing
    ///   in several processes never pass the relay's limit.
    static let migrations: [Migration] = [
        Migration(name: "v1-relay-store", statements: [
            """
            CREATE TABLE mailbox (
                id bytea PRIMARY KEY,
                created_at bigint NOT NULL,
                last_seq bigint NOT NULL DEFAULT 0,
                envelopes bigint NOT NULL DEFAULT 0,
                bytes bigint NOT NULL DEFAULT 0,
                blobs bigint NOT NULL DEFAULT 0,
                blob_bytes bigint NOT NULL DEFAULT 0)
            """,
            "CREATE TABLE relay_total (id boolean PRIMARY KEY DEFAULT true CHECK (id), mailboxes bigint NOT NULL)",
            "INSERT INTO relay_total (mailboxes) VALUES (0)",
            """
            CREATE TABLE store_total (
                shard smallint PRIMARY KEY,
                bodies bigint NOT NULL DEFAULT 0,
                body_bytes bigint NOT NULL DEFAULT 0,
                blobs bigint NOT NULL DEFAULT 0,
                blob_bytes bigint NOT NULL DEFAULT 0)
            """,
            "INSERT INTO store_total (shard) SELECT generate_series(0, \(storeTotalShards - 1))",
            """
            CREATE TABLE drop_token (
                mailbox bytea NOT NULL REFERENCES mailbox (id) ON DELETE CASCADE,
                hash bytea NOT NULL,
                created_at bigint NOT NULL,
                PRIMARY KEY (mailbox, hash))
            """,
            """
            CREATE TABLE body (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                data bytea NOT NULL,
                size bigint NOT NULL,
                created_at bigint NOT NULL)
            """,
            "ALTER TABLE body ALTER COLUMN data SET STORAGE EXTERNAL",
            """
            CREATE TABLE delivery (
                mailbox bytea NOT NULL REFERENCES mailbox (id) ON DELETE CASCADE,
                seq bigint NOT NULL,
                envelope bytea NOT NULL,
                body bigint NOT NULL REFERENCES body (id),
                received_at bigint NOT NULL,
                size bigint NOT NULL,
                expires_at bigint NOT NULL,
                PRIMARY KEY (mailbox, seq),
                UNIQUE (mailbox, envelope))
            """,
            "CREATE INDEX delivery_body ON delivery (body)",
            "CREATE INDEX delivery_expiry ON delivery (expires_at)",
            """
            CREATE TABLE request_nonce (
                mailbox bytea NOT NULL,
                nonce bytea NOT NULL,
                expires_at bigint NOT NULL,
                PRIMARY KEY (mailbox, nonce))
            """,
            "CREATE INDEX request_nonce_expiry ON request_nonce (expires_at)",
            "CREATE TABLE invite (hash bytea PRIMARY KEY, created_at bigint NOT NULL, used_at bigint)",
            """
            CREATE TABLE friend_invitation (
                id bytea PRIMARY KEY,
                mailbox bytea NOT NULL REFERENCES mailbox (id) ON DELETE CASCADE,
                sealed bytea NOT NULL,
                created_at bigint NOT NULL,
                expires_at bigint NOT NULL)
            """,
            "CREATE INDEX friend_invitation_mailbox ON friend_invitation (mailbox, expires_at)",
            "CREATE INDEX friend_invitation_expiry ON friend_invitation (expires_at)",
            "CREATE TABLE blob (id bytea PRIMARY KEY, size bigint NOT NULL, data bytea NOT NULL, created_at bigint NOT NULL)",
            "ALTER TABLE blob ALTER COLUMN data SET STORAGE EXTERNAL",
            """
            CREATE TABLE blob_ref (
                mailbox bytea NOT NULL REFERENCES mailbox (id) ON DELETE CASCADE,
                blob bytea NOT NULL REFERENCES blob (id),
                received_at bigint NOT NULL,
                expires_at bigint NOT NULL,
                PRIMARY KEY (mailbox, blob))
            """,
            "CREATE INDEX blob_ref_blob ON blob_ref (blob)",
            "CREATE INDEX blob_ref_expiry ON blob_ref (expires_at)",
            "CREATE INDEX blob_ref_listing ON blob_ref (mailbox, received_at, blob)",
        ]),
    ]

    static let storeTotalShards = 16

    /// Applies the migrations not applied yet, in one transaction holding
    /// an advisory lock: a process that starts while another migrates waits
    /// for it, then finds nothing left to do.
    static func migrate(_ configuration: PostgresStoreConfiguration, logger: Logger, connectTimeout: Duration) async throws {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                on: PostgresClient.defaultEventLoopGroup.any(),
                configuration: configuration.connection(connectTimeout: connectTimeout), id: 0, logger: logger).get()
        } catch let error as PSQLError {
            throw classify(error, configuration)
        } catch let error as RelayStoreUnavailable {
            throw error
        } catch {
            throw RelayStoreUnavailable("cannot reach the PostgreSQL server at \(configuration.serverName): \(error)")
        }
        do {
            _ = try await connection.rows("BEGIN", logger)
            // Waiting for another process's migrations, and a migration of a large store, may take any time: no limit here
            // (a process that stopped answering holds the lock at most idle_in_transaction_session_timeout).
            _ = try await connection.rows("SET LOCAL lock_timeout = 0", logger)
            _ = try await connection.rows("SET LOCAL statement_timeout = 0", logger)
            _ = try await connection.rows("SELECT pg_advisory_xact_lock(\(migrationLock))", logger)
            _ = try await connection.rows(
                "CREATE TABLE IF NOT EXISTS kith_migration (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                logger)
            var applied = Set<String>()
            for row in try await connection.rows("SELECT name FROM kith_migration", logger) {
                applied.insert(try row.decode(String.self))
            }
            for migration in migrations where !applied.contains(migration.name) {
                for statement in migration.statements {
                    // The statements are the constants above: nothing from outside is in them.
                    _ = try await connection.rows(PostgresQuery(unsafeSQL: statement), logger)
                }
                _ = try await connection.rows("INSERT INTO kith_migration (name) VALUES (\(migration.name))", logger)
                logger.info("PostgreSQL store migrated", metadata: ["migration": "\(migration.name)"])
            }
            _ = try await connection.rows("COMMIT", logger)
        } catch {
            // Closing the connection ends its transaction too.
            try? await connection.close()
            guard let error = error as? PSQLError else { throw error }
            let classified = classify(error, configuration)
            guard classified is PSQLError else { throw classified }
            // Anything else the server refused (a permission, a conflicting object): the operator's to mend.
            throw RelayStoreUnavailable("migrating the store on the PostgreSQL server at \(configuration.serverName) failed: "
                                        + "SQLSTATE \(error.sqlState ?? "unknown"): \(error.serverInfo?[.message] ?? "no message")")
        }
        try? await connection.close()
    }

    /// The names of the migrations applied, oldest first (for tests).
    public func appliedMigrations() async throws -> [String] {
        let logger = self.logger
        return try await read { connection in
            try await connection.rows("SELECT name FROM kith_migration ORDER BY applied_at, name", logger).map { try $0.decode(String.self) }
        }
    }
}
