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

    @Option(name: .long, help: ArgumentHelp("The relay's directory (default: $KITH_HOME).", valueName: "dir"))
    var home: String?

    @Option(help: ArgumentHelp("Address and port to listen on; port 0 picks a free one.", valueName: "host:port"))
    var listen = "127.0.0.1:8080"

    @Option(help: "Days an unacknowledged envelope is kept.")
    var ttlDays = 14

    @Option(help: "Largest envelope accepted, in bytes.")
    var maxEnvelopeBytes = 1 << 20

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard ttlDays > 0 else { throw ValidationError("--ttl-days must be positive") }
        guard (1024...(1 << 20)).contains(maxEnvelopeBytes) else { throw ValidationError("--max-envelope-bytes must be 1024 to 1048576") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \"\(logLevel)\"") }
        _ = try parseListen()
    }

    func parseListen() throws -> (String, Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen must be host:port, e.g. 127.0.0.1:8080")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ValidationError("--listen must be host:port, e.g. 127.0.0.1:8080") }
        return (host, port)
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "kith.relay")
        guard let dir = home ?? ProcessInfo.processInfo.environment["KITH_HOME"], !dir.isEmpty else {
            throw NodeError("no relay directory given", hint: "pass --home DIR or set KITH_HOME")
        }
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
            throw NodeError("cannot create \(dir): \(error.localizedDescription)")
        }
        let store = try RelayStore(path: (dir as NSString).appendingPathComponent("relay.sqlite"))
        var configuration = RelayConfiguration()
        configuration.ttlSeconds = UInt64(ttlDays) * 24 * 3600
        configuration.maxEnvelopeBytes = maxEnvelopeBytes
        let clock = configuration.clock
        try store.collectGarbage(now: clock())

        let (host, port) = try parseListen()
        let app = buildRelayApplication(store: store, configuration: configuration, host: host, port: port, logger: logger) { bound in
            let shown = host.contains(":") ? "[\(host)]" : host
            Console.out("listening on http://\(shown):\(bound)")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            group.addTask {
                // Sweep expired envelopes and nonces once a minute.
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(60))
                    do { try store.collectGarbage(now: clock()) } catch { logger.error("garbage collection failed", metadata: ["error": "\(error)"]) }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }
}
