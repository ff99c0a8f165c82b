import KithCrypto
import KithProtocol
import KithRelay
import Logging
import NIOConcurrencyHelpers
import PostgresNIO

/// The relay's store on a PostgreSQL server, which several relay processes
/// (on one machine or several) can share: the same contract as the embedded
/// `SQLiteRelayStore`, held by the database whatever number of processes
/// write at once. The schema and why it is so are in
/// `PostgresRelayStore+Schema.swift` and docs/RELAY-STORE.md.
///
/// Its background work runs from `open` on: the connection pool and a
/// listener (`LISTEN kith_mail`) feeding `arrivals`, each in a task of the
/// store's own, so that a store works as soon as it is open. `run()` only
/// waits, and closes the store when it is cancelled; `close()` does the same
/// for a store nobody runs.
///
/// Every operation waits at most `operationTimeout` for a connection, and
/// each statement runs at most the session's `statement_timeout` (locks at
/// most `lock_timeout`): a server that is down or unreachable makes an
/// operation throw `RelayStoreUnavailable`, never hang, and the pool
/// connects again by itself once the server is back.
public final class PostgresRelayStore: RelayStorage, Sendable {
    let configuration: PostgresStoreConfiguration
    let client: PostgresClient
    let logger: Logger
    let operationTimeout: Duration
    /// How often the listening connection is checked (`Listener`).
    let listenerCheck: Duration
    private let background: NIOLockedValueBox<Task<Void, Never>?>
    let arrivalsContinuation: AsyncStream<[UInt8]>.Continuation
    public let arrivals: AsyncStream<[UInt8]>?

    /// The most connections one store (one relay process) holds.
    public static let maxConnections = 16

    /// The channel of `NOTIFY`: each notification's payload lists the
    /// mailboxes a drop committed into, in hex, separated by commas.
    static let channel = "kith_mail"

    private init(configuration: PostgresStoreConfiguration, logger: Logger, connectTimeout: Duration, listenerCheck: Duration) {
        self.configuration = configuration
        self.logger = logger
        self.operationTimeout = connectTimeout
        self.listenerCheck = listenerCheck
        client = PostgresClient(configuration: configuration.client(connectTimeout: connectTimeout, maxConnections: Self.maxConnections),
                                backgroundLogger: logger)
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        arrivals = stream
        arrivalsContinuation = continuation
        background = NIOLockedValueBox(nil)
    }

    /// Connects, then applies the named migrations under an advisory lock
    /// (several processes starting at once migrate once). Throws
    /// `RelayStoreUnavailable` with a clear description ("cannot reach the
    /// PostgreSQL server at HOST:PORT: …", "authentication failed for user
    /// …", "database … does not exist") if it cannot; it gives up within
    /// `connectTimeout`, which also bounds each later operation's wait for
    /// a connection. The listening connection is checked every
    /// `listenerCheck` (see `Listener`).
    public static func open(_ configuration: PostgresStoreConfiguration, logger: Logger,
                            connectTimeout: Duration = .seconds(10), listenerCheck: Duration = .seconds(30)) async throws -> PostgresRelayStore {
        try await migrate(configuration, logger: logger, connectTimeout: connectTimeout)
        let store = PostgresRelayStore(configuration: configuration, logger: logger, connectTimeout: connectTimeout, listenerCheck: listenerCheck)
        store.start()
        return store
    }

    private func start() {
        let client = self.client, listener = Listener(store: self)
        background.withLockedValue { task in
            task = Task {
                await withDiscardingTaskGroup { group in
                    group.addTask { await client.run() }
                    group.addTask { await listener.run() }
                }
            }
        }
    }

    /// Waits until cancelled, then closes the store (its work runs from `open` on).
    public func run() async throws {
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(1_000_000_000)) } catch is CancellationError { break }
        }
        await close()
    }

    /// Closes the pool's connections and the listener's, and ends `arrivals`.
    /// Operations fail after it.
    public func close() async {
        let task = background.withLockedValue { task in defer { task = nil }; return task }
        task?.cancel()
        await task?.value
        arrivalsContinuation.finish()
    }

    // MARK: Running statements

    /// Runs `body` in a transaction on one connection of the pool. A
    /// serialization failure or a deadlock (which PostgreSQL resolves by
    /// failing one transaction) is tried again, and so, when
    /// `retryingForeignKey`, is a foreign key that another transaction's
    /// deletion broke meanwhile; each try starts again from nothing.
    /// `afterCommit`, if given, runs on the same connection once the
    /// transaction has committed, with its result.
    func transaction<R: Sendable>(retryingForeignKey: Bool = false,
                                  _ body: @escaping @Sendable (PostgresConnection) async throws -> R,
                                  afterCommit: (@Sendable (PostgresConnection, R) async -> Void)? = nil) async throws -> R {
        let logger = self.logger
        var attempt = 1
        while true {
            do {
                return try await leased { connection in
                    _ = try await connection.rows("BEGIN", logger)
                    let result: R
                    do {
                        result = try await body(connection)
                        _ = try await connection.rows("COMMIT", logger)
                    } catch {
                        _ = try? await connection.rows("ROLLBACK", logger)
                        throw error
                    }
                    await afterCommit?(connection, result)
                    return result
                }
            } catch let error as PSQLError {
                let state = error.sqlState
                if attempt < 4, state == "40001" || state == "40P01" || (retryingForeignKey && state == "23503") {
                    attempt += 1
                    continue
                }
                throw unavailable(error)
            }
        }
    }

    /// Runs `body` on one connection of the pool, outside a transaction (each statement its own).
    func read<R: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> R) async throws -> R {
        do {
            return try await leased(body)
        } catch let error as PSQLError {
            throw unavailable(error)
        }
    }

    private enum Lease { case waiting, leased, timedOut }

    /// `body` with a connection of the pool, waiting at most
    /// `operationTimeout` for one (the pool would wait on while it tries to
    /// connect to a server that is down). Whatever keeps the pool from
    /// giving a connection (the wait running out, the pool's circuit
    /// breaker, which opens after a minute of failed attempts, or the pool
    /// shut down) is `RelayStoreUnavailable`; only `body`'s own errors pass
    /// as they are.
    private func leased<R: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> R) async throws -> R {
        let state = NIOLockedValueBox(Lease.waiting)
        let client = self.client, wait = operationTimeout, server = configuration.serverName
        let timedOut = RelayStoreUnavailable("cannot reach the PostgreSQL server at \(server): no connection within \(wait)")
        return try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask {
                do {
                    return try await client.withConnection { connection in
                        let mine = state.withLockedValue { s in
                            guard s == .waiting else { return false }
                            s = .leased
                            return true
                        }
                        guard mine else { throw timedOut }
                        return try await body(connection)
                    }
                } catch let error as PSQLError {
                    throw error
                } catch {
                    switch state.withLockedValue({ $0 }) {
                    case .leased: throw error
                    case .timedOut: throw timedOut
                    case .waiting: throw RelayStoreUnavailable("cannot reach the PostgreSQL server at \(server): \(error)")
                    }
                }
            }
            group.addTask {
                try? await Task.sleep(for: wait)
                let late = state.withLockedValue { s in
                    guard s == .waiting else { return false }
                    s = .timedOut
                    return true
                }
                if late { throw timedOut }
                return nil
            }
            while let next = try await group.next() {
                if let result = next {
                    group.cancelAll()
                    return result
                }
            }
            throw RelayStoreUnavailable("the connection to the PostgreSQL server at \(server) ended")
        }
    }

    /// The error an operation throws for `error`: `RelayStoreUnavailable`
    /// when the server cannot be reached or cannot serve now, and the error
    /// itself when it is about the request (a constraint, a bug).
    func unavailable(_ error: PSQLError) -> any Error {
        Self.classify(error, configuration)
    }

    static func classify(_ error: PSQLError, _ configuration: PostgresStoreConfiguration) -> any Error {
        let server = configuration.serverName
        switch error.code {
        case .server:
            let state = error.sqlState ?? ""
            let message = error.serverInfo?[.message] ?? "no message"
            switch state {
            case "28P01", "28000":
                return RelayStoreUnavailable("authentication failed for user \(configuration.user) at the PostgreSQL server at \(server)")
            case "3D000":
                return RelayStoreUnavailable("database \(configuration.database) does not exist on the PostgreSQL server at \(server)")
            case "57014":
                return RelayStoreUnavailable("a statement took too long on the PostgreSQL server at \(server): \(message)")
            case "55P03":
                return RelayStoreUnavailable("a lock was held too long on the PostgreSQL server at \(server): \(message)")
            case "25006":
                return RelayStoreUnavailable("the PostgreSQL server at \(server) is read-only now (a standby, or during a failover): \(message)")
            case "40001", "40P01":
                return RelayStoreUnavailable("the PostgreSQL server at \(server) kept failing the transaction: \(message)")
            default:
                // Connection exceptions, insufficient resources, operator intervention (a shutdown), system errors.
                if ["08", "53", "57", "58", "XX"].contains(String(state.prefix(2))) {
                    return RelayStoreUnavailable("the PostgreSQL server at \(server) cannot serve now: \(message)")
                }
                return error
            }
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
             .sslUnsupported, .failedToAddSSLHandler, .receivedUnencryptedDataAfterSSLRequest, .queryCancelled:
            let cause = error.underlying.map { ": \($0)" } ?? ""
            return RelayStoreUnavailable("cannot reach the PostgreSQL server at \(server)\(cause)")
        case .unsupportedAuthMechanism, .authMechanismRequiresPassword, .saslError:
            return RelayStoreUnavailable("authentication failed for user \(configuration.user) at the PostgreSQL server at \(server)"
                                         + (configuration.password == nil ? " (no password was given)" : ""))
        default:
            return error
        }
    }
}

extension PSQLError {
    /// The server's SQLSTATE code, for an error the server sent.
    var sqlState: String? { serverInfo?[.sqlState] }
}

extension PostgresConnection {
    /// The rows of `query`, all read.
    func rows(_ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRow] {
        try await self.query(query, logger: logger).collect()
    }
}

/// Bytes as a `bytea` parameter (a `[UInt8]` would be bound as `char[]`).
func bytea(_ bytes: some Collection<UInt8>) -> ByteBuffer { ByteBuffer(bytes: bytes) }

extension ByteBuffer {
    var bytes: [UInt8] { Array(readableBytesView) }
}
