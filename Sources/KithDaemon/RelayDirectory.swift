import Foundation
import KithNode
import KithRelay
import KithRelayPostgres
import Logging

/// A relay's store, for `kith relay` and the daemon's embedded relay.
public enum RelayDirectory {
    /// Opens the relay's SQLite database in `dir` (`relay.sqlite`).
    public static func openStore(_ dir: String) throws -> any RelayStorage {
        try openSQLite((dir as NSString).appendingPathComponent("relay.sqlite"))
    }

    /// Opens an SQLite database, making a new directory for it 0700 and a
    /// new database 0600 (its WAL and shared-memory files take the
    /// database's mode), whatever the umask.
    public static func openSQLite(_ databasePath: String) throws -> any RelayStorage {
        let dir = (databasePath as NSString).deletingLastPathComponent
        if !dir.isEmpty, !FileManager.default.fileExists(atPath: dir) {
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
                throw NodeError("cannot create \(dir): \(error.localizedDescription)")
            }
            guard chmod(dir, 0o700) == 0 else { throw NodeError("cannot make \(dir) private: \(String(cString: strerror(errno)))") }
        }
        try SecureFile.createPrivateIfMissing(databasePath)
        return try SQLiteRelayStore(path: databasePath)
    }

    /// Opens the store a URL names (an SQLite path made absolute, a
    /// PostgreSQL configuration with its password). A PostgreSQL server that
    /// cannot be reached, refuses the login or lacks the database is an
    /// error saying so.
    public static func open(_ url: RelayStoreURL, logger: Logger) async throws -> any RelayStorage {
        switch url {
        case .sqlite(let path): return try openSQLite(path)
        case .postgres(let configuration):
            do { return try await PostgresRelayStore.open(configuration, logger: logger) } catch let error as RelayStoreUnavailable {
                throw NodeError("cannot open the relay's store: \(error.description)")
            }
        }
    }

    /// Runs `body` on the opened store with the store's background work
    /// (`RelayStorage.run`) beside it, for commands that use the store briefly.
    public static func withStore<T: Sendable>(_ url: RelayStoreURL, logger: Logger,
                                              _ body: @Sendable (any RelayStorage) async throws -> T) async throws -> T {
        let store = try await open(url, logger: logger)
        let running = Task { try? await store.run() }
        let result: Result<T, any Error>
        do { result = .success(try await body(store)) } catch { result = .failure(error) }
        running.cancel()
        await running.value
        return try result.get()
    }
}
