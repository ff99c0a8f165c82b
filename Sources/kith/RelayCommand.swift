import ArgumentParser
import Foundation
import Hummingbird
import KithDaemon
import KithNode
import KithProtocol
import KithRelay
import KithRelayPostgres
import Logging

/// Where a relay lives: its directory and config file (for `kith relay` and `kith relay invite`).
struct RelayPlace: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The relay's directory (default: relay.home in the config file, or $KITH_HOME).", valueName: "dir"))
    var home: String?

    @Option(help: ArgumentHelp("A JSON config file with a \"relay\" section (see config/README.md).", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("""
        Where the relay keeps its mailboxes: sqlite:PATH (relative to the relay's directory unless absolute) \
        or postgres://USER@HOST:PORT/DB, with ?sslmode=disable|require (default: disable on loopback, else require) \
        and ?host=/SOCKET/DIR; the password comes from KITH_RELAY_STORE_PASSWORD or --store-password-file, \
        never from the URL (default: $KITH_RELAY_STORE, relay.store in the config file, or relay.sqlite \
        in the relay's directory).
        """, valueName: "url"))
    var store: String?

    @Option(help: ArgumentHelp("""
        A file holding the PostgreSQL store's password, readable only by its owner \
        (default: $KITH_RELAY_STORE_PASSWORD, or relay.store_password_file in the config file).
        """, valueName: "file"))
    var storePasswordFile: String?

    /// The directory: --home, relay.home in the file, or $KITH_HOME.
    func home(_ file: RelayFileConfiguration) throws -> String {
        guard let home = home ?? file.home ?? ProcessInfo.processInfo.environment["KITH_HOME"], !home.isEmpty else {
            throw NodeError("no relay directory given", hint: "pass --home DIR, set relay.home in the config file, or set KITH_HOME")
        }
        return home
    }

    /// The store: --store, $KITH_RELAY_STORE, relay.store in the file, or
    /// relay.sqlite in the relay's directory; an SQLite path made absolute,
    /// a PostgreSQL store with its password.
    func store(_ file: RelayFileConfiguration) throws -> RelayStoreURL {
        let environment = ProcessInfo.processInfo.environment
        let given = store ?? environment["KITH_RELAY_STORE"].flatMap { $0.isEmpty ? nil : $0 } ?? file.store
        do {
            switch try given.map(RelayStoreURL.parse) ?? .embedded {
            case .sqlite(let path):
                if storePasswordFile != nil || file.storePasswordFile != nil {
                    throw NodeError("a store password file is only read with a postgres:// store")
                }
                return .sqlite(path: path.hasPrefix("/") ? path : (try home(file) as NSString).appendingPathComponent(path))
            case .postgres(var configuration):
                configuration.password = try RelayStorePassword.read(flagFile: storePasswordFile, environment: environment,
                                                                    configFile: file.storePasswordFile)
                return .postgres(configuration)
            }
        } catch let error as RelayStoreURL.Invalid { throw NodeError(error.description) }
    }
}

struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Run a relay in the foreground until SIGTERM or SIGINT.",
        discussion: """
            A relay stores encrypted envelopes for mailboxes until their owners fetch and \
            acknowledge them, or they expire. It learns no plaintext and no identity. Its \
            database is RDIR/relay.sqlite, or the store --store names: several relay processes \
            on one PostgreSQL database serve the same mailboxes (see README, "A relay for many \
            people"). A store that cannot be reached at start is an error; one that goes away \
            later gets 503 answers until it is back. Prints "listening on URL" once it accepts \
            connections. Its policy (registration, quotas, rate limits, time to live) comes from \
            the config file; see config/README.md.
            """,
        subcommands: [RelayInviteCommand.self, RelayStatusCommand.self, RelayAddCommand.self, RelayRemoveCommand.self]
    )

    @OptionGroup var place: RelayPlace

    @Option(help: ArgumentHelp("Address and port to listen on; port 0 picks a free one (default: 127.0.0.1:8080).", valueName: "host:port"))
    var listen: String?

    @Option(help: "Days an unacknowledged envelope is kept (default: 30).")
    var ttlDays: Int?

    @Option(help: "Largest envelope accepted, in bytes (default: 1048576).")
    var maxEnvelopeBytes: Int?

    @Option(help: ArgumentHelp("Who may register a mailbox: open, invite or allowlist (default: open; the list is relay.allowed_mailboxes in the config file).",
                               valueName: "policy"))
    var registration: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical (default: info).")
    var logLevel: String?

    /// Flags over the config file over the defaults, checked.
    struct Settings {
        var store: RelayStoreURL
        var host: String
        var port: Int
        var configuration: RelayConfiguration
        var logLevel: Logger.Level
    }

    func settings() throws -> Settings {
        var file = try RelayCommand.loadConfig(place.config)
        let store = try place.store(file)
        let (host, port) = try Self.parseListen(listen ?? file.listen ?? "127.0.0.1:8080")
        file.ttlDays = ttlDays ?? file.ttlDays
        file.maxEnvelopeBytes = maxEnvelopeBytes ?? file.maxEnvelopeBytes
        file.registration = registration ?? file.registration
        var configuration: RelayConfiguration
        do { configuration = try RelayConfiguration(file: file) } catch { throw NodeError(error.description) }
        // The disk that DiskSpaceGuard watches: an SQLite database's; a PostgreSQL server's is its own.
        if case .sqlite(let path) = store { configuration.storageDirectory = (path as NSString).deletingLastPathComponent }
        let levelName = logLevel ?? file.logLevel ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else { throw NodeError("unknown log level \"\(levelName)\"") }
        return Settings(store: store, host: host, port: port, configuration: configuration, logLevel: level)
    }

    /// For the commands that use the store briefly: its errors only.
    static var quietLogger: Logger {
        var logger = Logger(label: "kith.relay")
        logger.logLevel = .error
        return logger
    }

    /// The `relay` section of the config file, or an empty one without a file.
    static func loadConfig(_ path: String?) throws -> RelayFileConfiguration {
        guard let path else { return RelayFileConfiguration() }
        do { return try RelayFileConfiguration.load(path: path) } catch let error as RelayFileConfiguration.ConfigError {
            throw NodeError(error.description)
        }
    }


    static func parseListen(_ listen: String) throws -> (String, Int) {
        guard let address = HostPort(listen) else { throw NodeError("listen address must be host:port, e.g. 127.0.0.1:8080, not \"\(listen)\"") }
        return (address.host, address.port)
    }

    func run() async throws {
        let settings = try settings()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = settings.logLevel
            return handler
        }
        let logger = Logger(label: "kith.relay")
        let host = settings.host
        try await runRelay(store: try await RelayDirectory.open(settings.store, logger: logger), configuration: settings.configuration, host: host,
                           port: settings.port, logger: logger, handlingSignals: true) { bound in
            let shown = host.contains(":") ? "[\(host)]" : host
            Console.out("listening on http://\(shown):\(bound)")
        }
    }
}

/// `kith relay invite`: mints a one-time invite code for a relay whose
/// registration is by invitation. Works while the relay runs.
struct RelayInviteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invite",
        abstract: "Mint a one-time invite code that lets one node register a mailbox on this relay.",
        discussion: """
            Prints the code on standard output. Give it to one person, who uses it once: \
            `kith init --relay URL --invite CODE`. The relay keeps only a hash of it. Codes are \
            needed when relay.registration is "invite" (or `kith relay --registration invite`); \
            this works while the relay runs.
            """
    )

    @OptionGroup var place: RelayPlace

    func run() async throws {
        let file = try RelayCommand.loadConfig(place.config)
        let store = try place.store(file)
        if place.config != nil {
            let policy: RelayConfiguration
            do { policy = try RelayConfiguration(file: file) } catch { throw NodeError(error.description) }
            if policy.registration != .invite {
                Console.note("this config's relay.registration is not \"invite\": the relay does not ask for codes")
            }
        }
        let invite = RelayInvite()
        try await RelayDirectory.withStore(store, logger: RelayCommand.quietLogger) { store in
            try await store.addInvite(invite, now: RelayConfiguration().clock())
        }
        Console.out(invite.text)
    }
}

/// `kith relay status`: what a relay holds, read from its database (also while it runs).
struct RelayStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print how many mailboxes, envelopes and blobs a relay holds and the space they take.",
        discussion: """
            Reads the relay's database, also while the relay runs. A running relay serves the same \
            figures, with its request counts and timings, at GET /metrics when relay.metrics_token is set \
            (see config/README.md).
            """
    )

    @OptionGroup var place: RelayPlace
    @Flag(help: """
        Print JSON: {mailboxes, envelopes, envelopeBytes, deliveriesWaiting, blobs, blobBytes, databaseBytes}; \
        databaseBytes (the SQLite files' size) is absent with a PostgreSQL store.
        """) var json = false

    struct Status: Encodable {
        let mailboxes, envelopes, envelopeBytes, deliveriesWaiting, blobs, blobBytes: Int
        let databaseBytes: Int?
    }

    func run() async throws {
        let store = try place.store(try RelayCommand.loadConfig(place.config))
        var databaseBytes: Int?
        if case .sqlite(let database) = store {
            guard FileManager.default.fileExists(atPath: database) else {
                throw NodeError("\(database) holds no relay", hint: "give the directory a relay runs in, with --home or --config, or its --store")
            }
            databaseBytes = ["", "-wal"].reduce(0) { total, suffix in
                total + ((try? FileManager.default.attributesOfItem(atPath: database + suffix)[.size] as? Int) ?? 0)
            }
        }
        let counts = try await RelayDirectory.withStore(store, logger: RelayCommand.quietLogger) { try await $0.counts() }
        let status = Status(mailboxes: counts.mailboxes, envelopes: counts.bodies, envelopeBytes: counts.bodyBytes,
                            deliveriesWaiting: counts.deliveries, blobs: counts.blobs, blobBytes: counts.blobBytes, databaseBytes: databaseBytes)
        if json { return try Console.json(status) }
        Console.out("mailboxes           \(status.mailboxes)")
        Console.out("envelopes           \(status.envelopes) (\(status.envelopeBytes) bytes)")
        Console.out("deliveries waiting  \(status.deliveriesWaiting)")
        Console.out("blobs               \(status.blobs) (\(status.blobBytes) bytes, each stored once)")
        Console.out("database            " + (status.databaseBytes.map { "\($0) bytes" } ?? "PostgreSQL"))
    }
}
