import ArgumentParser
import Foundation
import Hummingbird
import KithNode
import KithRelay
import Logging

struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Run a relay in the foreground until SIGTERM or SIGINT.",
        discussion: """
            A relay stores encrypted envelopes for mailboxes until their owners fetch and \
            acknowledge them, or they expire. It learns no plaintext and no identity. Its \
            database is RDIR/relay.sqlite. Prints "listening on URL" once it accepts connections.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The relay's directory (default: relay.home in the config file, or $KITH_HOME).", valueName: "dir"))
    var home: String?

    @Option(help: ArgumentHelp("A JSON config file with a \"relay\" section (see config/README.md).", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Address and port to listen on; port 0 picks a free one (default: 127.0.0.1:8080).", valueName: "host:port"))
    var listen: String?

    @Option(help: "Days an unacknowledged envelope is kept (default: 14).")
    var ttlDays: Int?

    @Option(help: "Largest envelope accepted, in bytes (default: 1048576).")
    var maxEnvelopeBytes: Int?

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
        var file = RelayFileConfiguration()
        if let config {
            do { file = try RelayFileConfiguration.load(path: config) } catch let error as RelayFileConfiguration.ConfigError {
                throw NodeError(error.description)
            }
        }
        guard let home = home ?? file.home ?? ProcessInfo.processInfo.environment["KITH_HOME"], !home.isEmpty else {
            throw NodeError("no relay directory given", hint: "pass --home DIR, set relay.home in the config file, or set KITH_HOME")
        }
        let (host, port) = try Self.parseListen(listen ?? file.listen ?? "127.0.0.1:8080")
        var configuration = RelayConfiguration()
        let ttl = ttlDays ?? file.ttlDays ?? 14
        guard (1...3650).contains(ttl) else { throw NodeError("ttl_days must be 1 to 3650") }
        configuration.ttlSeconds = UInt64(ttl) * 24 * 3600
        configuration.maxEnvelopeBytes = maxEnvelopeBytes ?? file.maxEnvelopeBytes ?? configuration.maxEnvelopeBytes
        guard (1024...(1 << 20)).contains(configuration.maxEnvelopeBytes) else { throw NodeError("max_envelope_bytes must be 1024 to 1048576") }
        configuration.fetchLimit = file.fetchLimit ?? configuration.fetchLimit
        guard (1...10_000).contains(configuration.fetchLimit) else { throw NodeError("fetch_limit must be 1 to 10000") }
        let levelName = logLevel ?? file.logLevel ?? "info"
        guard let level = Logger.Level(rawValue: levelName) else { throw NodeError("unknown log level \"\(levelName)\"") }
        return Settings(home: home, host: host, port: port, configuration: configuration, logLevel: level)
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
        let dir = settings.home
        // A new relay directory is 0700 and a new database 0600 (its WAL and
        // shared-memory files take the database's mode), whatever the umask.
        if !FileManager.default.fileExists(atPath: dir) {
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
                throw NodeError("cannot create \(dir): \(error.localizedDescription)")
            }
            guard chmod(dir, 0o700) == 0 else { throw NodeError("cannot make \(dir) private: \(String(cString: strerror(errno)))") }
        }
        let databasePath = (dir as NSString).appendingPathComponent("relay.sqlite")
        try SecureFile.createPrivateIfMissing(databasePath)
        let store = try RelayStore(path: databasePath)
        let clock = settings.configuration.clock
        try await store.collectGarbage(now: clock())

        let host = settings.host
        let app = buildRelayApplication(store: store, configuration: settings.configuration, host: host, port: settings.port, logger: logger) { bound in
            let shown = host.contains(":") ? "[\(host)]" : host
            Console.out("listening on http://\(shown):\(bound)")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            group.addTask {
                // Sweep expired envelopes and nonces once a minute.
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(60))
                    do { try await store.collectGarbage(now: clock()) } catch { logger.error("garbage collection failed", metadata: ["error": "\(error)"]) }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }
}
