import ArgumentParser
import Foundation
import Hummingbird
import KithNode
import KithProtocol
import KithRelay
import Logging

/// Where a relay lives: its directory and config file (for `kith relay` and `kith relay invite`).
struct RelayPlace: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The relay's directory (default: relay.home in the config file, or $KITH_HOME).", valueName: "dir"))
    var home: String?

    @Option(help: ArgumentHelp("A JSON config file with a \"relay\" section (see config/README.md).", valueName: "file"))
    var config: String?

    /// The directory: --home, relay.home in the file, or $KITH_HOME.
    func home(_ file: RelayFileConfiguration) throws -> String {
        guard let home = home ?? file.home ?? ProcessInfo.processInfo.environment["KITH_HOME"], !home.isEmpty else {
            throw NodeError("no relay directory given", hint: "pass --home DIR, set relay.home in the config file, or set KITH_HOME")
        }
        return home
    }
}

struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Run a relay in the foreground until SIGTERM or SIGINT.",
        discussion: """
            A relay stores encrypted envelopes for mailboxes until their owners fetch and \
            acknowledge them, or they expire. It learns no plaintext and no identity. Its \
            database is RDIR/relay.sqlite. Prints "listening on URL" once it accepts connections. \
            Its policy (registration, quotas, rate limits, time to live) comes from the config \
            file; see config/README.md.
            """,
        subcommands: [RelayInviteCommand.self, RelayAddCommand.self, RelayRemoveCommand.self]
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
        var home: String
        var host: String
        var port: Int
        var configuration: RelayConfiguration
        var logLevel: Logger.Level
    }

    func settings() throws -> Settings {
        var file = try RelayCommand.loadConfig(place.config)
        let home = try place.home(file)
        let (host, port) = try Self.parseListen(listen ?? file.listen ?? "127.0.0.1:8080")
        file.ttlDays = ttlDays ?? file.ttlDays
        file.maxEnvelopeBytes = maxEnvelopeBytes ?? file.maxEnvelopeBytes
        file.registration = registration ?? file.registration
        let configuration: RelayConfiguration
        do { configuration = try RelayConfiguration(file: file) } catch { throw NodeError(error.description) }
        let levelName = logLevel ?? file.logLevel ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else { throw NodeError("unknown log level \"\(levelName)\"") }
        return Settings(home: home, host: host, port: port, configuration: configuration, logLevel: level)
    }

    /// The `relay` section of the config file, or an empty one without a file.
    static func loadConfig(_ path: String?) throws -> RelayFileConfiguration {
        guard let path else { return RelayFileConfiguration() }
        do { return try RelayFileConfiguration.load(path: path) } catch let error as RelayFileConfiguration.ConfigError {
            throw NodeError(error.description)
        }
    }

    /// Opens the relay's database in `dir`, making a new directory 0700 and
    /// a new database 0600 (its WAL and shared-memory files take the
    /// database's mode), whatever the umask.
    static func openStore(_ dir: String) throws -> RelayStore {
        if !FileManager.default.fileExists(atPath: dir) {
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
                throw NodeError("cannot create \(dir): \(error.localizedDescription)")
            }
            guard chmod(dir, 0o700) == 0 else { throw NodeError("cannot make \(dir) private: \(String(cString: strerror(errno)))") }
        }
        let databasePath = (dir as NSString).appendingPathComponent("relay.sqlite")
        try SecureFile.createPrivateIfMissing(databasePath)
        return try RelayStore(path: databasePath)
    }

    static func parseListen(_ listen: String) throws -> (String, Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw NodeError("listen address must be host:port, e.g. 127.0.0.1:8080, not \"\(listen)\"")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw NodeError("listen address must be host:port, e.g. 127.0.0.1:8080, not \"\(listen)\"") }
        return (host, port)
    }

    func run() async throws {
        let settings = try settings()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = settings.logLevel
            return handler
        }
        let logger = Logger(label: "kith.relay")
        let store = try Self.openStore(settings.home)
        let clock = settings.configuration.clock, batch = settings.configuration.collectionBatch
        try await store.collectGarbage(now: clock(), batch: batch)

        let host = settings.host
        let app = buildRelayApplication(store: store, configuration: settings.configuration, host: host, port: settings.port, logger: logger) { bound in
            let shown = host.contains(":") ? "[\(host)]" : host
            Console.out("listening on http://\(shown):\(bound)")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            group.addTask {
                // Once a minute: expired references, then the bodies no
                // mailbox references, then expired nonces, in bounded batches.
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(60))
                    do {
                        let collected = try await store.collect(now: clock(), batch: batch)
                        if collected.references + collected.bodies > 0 {
                            logger.info("expired envelopes collected", metadata: ["references": "\(collected.references)", "bodies": "\(collected.bodies)"])
                        }
                    } catch { logger.error("garbage collection failed", metadata: ["error": "\(error)"]) }
                }
            }
            try await group.next()
            group.cancelAll()
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
        let home = try place.home(file)
        if place.config != nil {
            let policy: RelayConfiguration
            do { policy = try RelayConfiguration(file: file) } catch { throw NodeError(error.description) }
            if policy.registration != .invite {
                Console.note("this config's relay.registration is not \"invite\": the relay does not ask for codes")
            }
        }
        let store = try RelayCommand.openStore(home)
        let invite = RelayInvite()
        try await store.addInvite(invite, now: RelayConfiguration().clock())
        Console.out(invite.text)
    }
}
