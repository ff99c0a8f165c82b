import PostgresNIO

/// Where the relay's PostgreSQL store is and how to log in to it.
public struct PostgresStoreConfiguration: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public enum TLS: Sendable, Equatable {
        case disable
        /// TLS, the server's certificate verified against the system's roots,
        /// and against the host's name when `host` is a name (an address is
        /// sent no server name).
        case require
    }

    /// A host name or address; or a directory holding the server's Unix socket when it starts with "/".
    public var host: String
    public var port: Int
    public var user: String
    /// Never from the command line: the relay reads it from its environment or a file.
    public var password: String?
    public var database: String
    public var tls: TLS

    public init(host: String, port: Int = 5432, user: String, password: String?, database: String, tls: TLS = .disable) {
        self.host = host; self.port = port; self.user = user; self.password = password; self.database = database; self.tls = tls
    }

    /// Everything but the password, for logs and messages.
    public var description: String {
        "PostgresStoreConfiguration(host: \(host), port: \(port), user: \(user), password: \(password == nil ? "none" : "(redacted)"), "
            + "database: \(database), tls: \(tls))"
    }

    public var debugDescription: String { description }

    /// `host:port`, or the socket's path, for messages.
    var serverName: String { isSocket ? socketPath : "\(host):\(port)" }

    var isSocket: Bool { host.hasPrefix("/") }

    /// The server's socket in the directory `host` (PostgreSQL names it after the port).
    var socketPath: String { "\(host)/.s.PGSQL.\(port)" }

    /// Settings each session starts with, so that nothing waits without
    /// bound: a statement runs at most `statement_timeout`, waits for a row
    /// lock at most `lock_timeout`, and a transaction left open by a process
    /// that stopped answering holds its locks at most
    /// `idle_in_transaction_session_timeout`.
    static let sessionSettings: [(String, String)] = [
        ("application_name", "kith-relay"),
        ("statement_timeout", "60s"),
        ("lock_timeout", "20s"),
        ("idle_in_transaction_session_timeout", "60s"),
    ]

    /// One connection's configuration (for migrating and for listening).
    public func connection(connectTimeout: Duration) throws -> PostgresConnection.Configuration {
        var config: PostgresConnection.Configuration
        if isSocket {
            config = .init(unixSocketPath: socketPath, username: user, password: password, database: database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch self.tls {
            case .disable: tls = .disable
            case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            config = .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        config.options.connectTimeout = .nanoseconds(Int64(connectTimeout.components.seconds) * 1_000_000_000
                                                     + connectTimeout.components.attoseconds / 1_000_000_000)
        config.options.additionalStartupParameters = Self.sessionSettings
        return config
    }

    /// The pool's configuration.
    func client(connectTimeout: Duration, maxConnections: Int) -> PostgresClient.Configuration {
        var config: PostgresClient.Configuration
        if isSocket {
            config = .init(unixSocketPath: socketPath, username: user, password: password, database: database)
        } else {
            let tls: PostgresClient.Configuration.TLS
            switch self.tls {
            case .disable: tls = .disable
            case .require: tls = .require(.makeClientConfiguration())
            }
            config = .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        config.options.connectTimeout = connectTimeout
        config.options.maximumConnections = maxConnections
        config.options.additionalStartupParameters = Self.sessionSettings
        return config
    }
}
