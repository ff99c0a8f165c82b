import Foundation
import KithCrypto
import KithRelayPostgres
import Logging
import PostgresNIO

/// The PostgreSQL server the tests use: the one `scripts/with-postgres.sh`
/// starts (`make test` runs the tests through it), named by
/// KITH_TEST_POSTGRES (`postgres://USER@HOST:PORT/DB`) and
/// KITH_TEST_POSTGRES_PASSWORD. Each test makes a database of its own.
enum TestPostgres {
    struct NotConfigured: Error, CustomStringConvertible {
        let description: String
    }

    /// The cluster's database `kith`, from the environment.
    static func configuration() throws -> PostgresStoreConfiguration {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["KITH_TEST_POSTGRES"] else {
            throw NotConfigured(description: "KITH_TEST_POSTGRES is not set: run the tests through `make test` or `scripts/with-postgres.sh swift test …`")
        }
        guard let parts = URLComponents(string: url), parts.scheme == "postgres" || parts.scheme == "postgresql",
              let host = parts.host, let user = parts.user, parts.path.count > 1 else {
            throw NotConfigured(description: "KITH_TEST_POSTGRES must be postgres://USER@HOST:PORT/DB, not \(url)")
        }
        return PostgresStoreConfiguration(host: host, port: parts.port ?? 5432, user: user,
                                          password: environment["KITH_TEST_POSTGRES_PASSWORD"], database: String(parts.path.dropFirst()))
    }

    /// A new, empty database on the cluster, and what drops it.
    static func freshDatabase() async throws -> (PostgresStoreConfiguration, cleanup: @Sendable () async -> Void) {
        let base = try configuration()
        var fresh = base
        fresh.database = "kith_t_" + Hex.encode(randomBytes(8))
        // The name is made here of hex digits: nothing from outside is in the statement.
        try await execute("CREATE DATABASE \(fresh.database)", on: base)
        return (fresh, { [name = fresh.database] in try? await execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", on: base) })
    }

    /// The first column of each row `sql` returns, as integers.
    static func integers(_ sql: String, on configuration: PostgresStoreConfiguration) async throws -> [Int] {
        try await rows(sql, on: configuration).map { try $0.decode(Int.self) }
    }

    static func execute(_ sql: String, on configuration: PostgresStoreConfiguration) async throws {
        _ = try await rows(sql, on: configuration)
    }

    /// Runs `sql` on a connection of its own.
    static func rows(_ sql: String, on configuration: PostgresStoreConfiguration) async throws -> [PostgresRow] {
        var config = PostgresConnection.Configuration(host: configuration.host, port: configuration.port, username: configuration.user,
                                                      password: configuration.password, database: configuration.database, tls: .disable)
        config.options.connectTimeout = .seconds(30)
        let logger = Logger(label: "kith-test-postgres")
        let connection = try await PostgresConnection.connect(on: PostgresClient.defaultEventLoopGroup.any(), configuration: config,
                                                              id: 0, logger: logger).get()
        do {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect()
            try await connection.close()
            return rows
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// A store on a fresh database; the cleanup closes it and drops the database.
    static func store() async throws -> (PostgresRelayStore, cleanup: @Sendable () async -> Void) {
        let (configuration, drop) = try await freshDatabase()
        let store = try await PostgresRelayStore.open(configuration, logger: Logger(label: "kith-test-store"))
        return (store, { await store.close(); await drop() })
    }
}
