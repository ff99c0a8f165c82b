import KithCrypto
import Logging
import PostgresNIO

extension PostgresRelayStore {
    /// `LISTEN kith_mail` on a connection of its own (not the pool's, which
    /// may close idle connections), yielding each mailbox a notification
    /// names into `arrivals`. When the connection fails or the server goes
    /// away it connects again by itself, a second later and then up to ten
    /// seconds apart while the server stays away; mail that arrives while
    /// it is not connected wakes no one (waiters end at their timeout and
    /// fetch). A connection that only listens sends nothing, so one whose
    /// server host vanished, or that a NAT forgot, would never fail: every
    /// `check` it runs `SELECT 1`, and a connection that does not answer
    /// within `connectTimeout` is closed and made again.
    struct Listener: Sendable {
        let configuration: PostgresStoreConfiguration
        let connectTimeout: Duration
        let check: Duration
        let logger: Logger
        let arrived: @Sendable ([[UInt8]]) -> Void

        init(store: PostgresRelayStore) {
            configuration = store.configuration
            connectTimeout = store.operationTimeout
            check = store.listenerCheck
            logger = store.logger
            arrived = { [continuation = store.arrivalsContinuation] mailboxes in
                for mailbox in mailboxes { continuation.yield(mailbox) }
            }
        }

        func run() async {
            var pause = Duration.seconds(1)
            while !Task.isCancelled {
                do {
                    let connection = try await PostgresConnection.connect(
                        on: PostgresClient.defaultEventLoopGroup.any(),
                        configuration: configuration.connection(connectTimeout: connectTimeout), id: 1, logger: logger).get()
                    pause = .seconds(1)
                    do {
                        try await withTaskCancellationHandler {
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                group.addTask {
                                    try await connection.listen(on: PostgresRelayStore.channel) { notifications in
                                        for try await notification in notifications {
                                            arrived(Self.mailboxes(in: notification.payload))
                                        }
                                    }
                                }
                                group.addTask { try await keepChecking(connection) }
                                // Whichever ends first (the connection failed, or did not answer) ends both.
                                _ = try await group.next()
                                group.cancelAll()
                            }
                        } onCancel: {
                            connection.close().whenComplete { _ in }
                        }
                    } catch {
                        if !Task.isCancelled { logger.warning("PostgreSQL listener lost its connection", metadata: ["error": "\(String(describing: type(of: error)))"]) }
                    }
                    try? await connection.close()
                } catch {
                    if !Task.isCancelled {
                        logger.warning("PostgreSQL listener cannot connect", metadata: ["server": "\(configuration.serverName)"])
                    }
                }
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(10))
            }
        }

        /// Runs `SELECT 1` on the connection every `check`; throws, having
        /// closed the connection, when one fails or is not answered within
        /// `connectTimeout`.
        func keepChecking(_ connection: PostgresConnection) async throws {
            let logger = self.logger, deadline = connectTimeout
            while true {
                try await Task.sleep(for: check)
                let answered = try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        _ = try await connection.query("SELECT 1", logger: logger).collect()
                        return true
                    }
                    group.addTask {
                        // A query on a dead connection waits until the connection is closed.
                        try await Task.sleep(for: deadline)
                        try? await connection.close()
                        return false
                    }
                    defer { group.cancelAll() }
                    return try await group.next() ?? false
                }
                guard answered else {
                    logger.warning("PostgreSQL listener's connection did not answer: connecting again",
                                   metadata: ["server": "\(configuration.serverName)"])
                    throw CancellationError()
                }
            }
        }

        /// The mailboxes a payload names: 32-byte keys in hex, separated by
        /// commas; anything else in it is skipped.
        static func mailboxes(in payload: String) -> [[UInt8]] {
            payload.split(separator: ",").compactMap { part in
                guard part.utf8.count == 64, let bytes = Hex.decode(part), bytes.count == 32 else { return nil }
                return bytes
            }
        }
    }
}
