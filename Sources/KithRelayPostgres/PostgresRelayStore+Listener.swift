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
    /// fetch).
    struct Listener: Sendable {
        let configuration: PostgresStoreConfiguration
        let connectTimeout: Duration
        let logger: Logger
        let arrived: @Sendable ([[UInt8]]) -> Void

        init(store: PostgresRelayStore) {
            configuration = store.configuration
            connectTimeout = store.operationTimeout
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
                            try await connection.listen(on: PostgresRelayStore.channel) { notifications in
                                for try await notification in notifications {
                                    arrived(Self.mailboxes(in: notification.payload))
                                }
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
