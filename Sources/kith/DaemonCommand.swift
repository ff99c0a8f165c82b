import ArgumentParser
import Foundation
import KithCrypto
import KithDaemon
import KithNode
import Logging

/// `kith daemon`: runs the node until SIGTERM or SIGINT (see `Daemon`).
struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run the node as a service: deliver, fetch and rotate keys on its own until SIGTERM or SIGINT.",
        discussion: """
            Reads DIR/kith.yaml (or --config FILE; see config/kith.example.yaml), every key \
            overridable from the environment (sync.interval is KITH_SYNC_INTERVAL). An unknown key, \
            a wrong type or an impossible value is an error naming the key and the file, and the \
            daemon does not start. The keystore is unlocked once, with KITH_PASSPHRASE, the \
            passphrase_file of the config, or a prompt on the terminal. While it runs, `kith post`, \
            `kith feed`, `kith sync` and `kith status` for the same --home go through it and need \
            no passphrase. Prints "daemon running, control socket PATH" on standard output once \
            it serves; logs go to standard error unless log.destination says otherwise. Exits 0 \
            after SIGTERM or SIGINT; nothing queued is lost, whenever it stops.
            """
    )

    @OptionGroup var home: HomeOptions

    @Option(help: ArgumentHelp("The config file (default: kith.yaml in the node directory).", valueName: "file"))
    var config: String?

    func run() async throws {
        let dir = try home.resolve()
        let settings: DaemonConfiguration
        do { settings = try await DaemonConfiguration.load(home: dir, file: config) } catch let error as DaemonConfigurationError {
            throw NodeError(error.description, hint: error.hint ?? "the daemon did not start")
        }
        let node = try Node.open(home: dir)
        let lock = try DaemonLock.acquire(home: dir, socket: settings.controlSocket)
        var passphrase = try Self.passphrase(settings)
        defer { wipe(&passphrase) }
        let unlocked = try node.unlock(passphrase: passphrase)
        wipe(&passphrase)

        let destination = try LogDestination(settings.logDestination)
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, destination: destination)
            handler.logLevel = settings.logLevel
            return handler
        }
        if !settings.fileExists { Console.note("no config file at \(settings.file): using the defaults") }
        let daemon = Daemon(node: unlocked, configuration: settings, logger: Logger(label: "kith.daemon"), mailSignal: RelayPush(node: unlocked))
        try await daemon.run(lock: lock) { socket, relay in
            if let relay { Console.out("relay listening on \(relay)") }
            Console.out("daemon running, control socket \(socket)")
        }
    }

    /// `KITH_PASSPHRASE`, else the config's passphrase file (which must be
    /// mine and 0600), else a prompt on the terminal.
    static func passphrase(_ settings: DaemonConfiguration) throws -> [UInt8] {
        if let value = settings.passphrase {
            guard !value.isEmpty else { throw NodeError("KITH_PASSPHRASE is empty") }
            return Array(value.utf8)
        }
        if let path = settings.passphraseFile {
            var bytes = try SecureFile.readPrivate(path, what: "passphrase file", missingHint: "check passphrase_file in \(settings.file)")
            defer { wipe(&bytes) }
            let line = Array(bytes.prefix { $0 != 0x0a && $0 != 0x0d })
            guard !line.isEmpty else { throw NodeError("the passphrase file \(path) has an empty first line") }
            return line
        }
        let noTerminal = NodeError("no passphrase: there is no terminal to ask on",
                                   hint: "set passphrase_file in \(settings.file), or KITH_PASSPHRASE")
        let line = try Passphrase.prompt("Passphrase: ", noTerminal: noTerminal)
        guard !line.isEmpty else { throw NodeError("the passphrase must not be empty") }
        return line
    }
}

/// `kith status`: what the running daemon is doing.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the running daemon's state: its outbox, its last sync, given-up deliveries.",
        discussion: "Needs a daemon running for the node (`kith daemon`); exits with 3 when none runs."
    )

    @OptionGroup var home: HomeOptions

    @Flag(help: "Print the status as JSON.") var json = false

    func run() async throws {
        let dir = try home.resolve()
        guard let daemon = ControlClient.running(home: dir) else {
            Console.error("no daemon runs for \(dir)", hint: "start one with `kith daemon --home \(dir)`")
            throw ExitCode(3)
        }
        let status = try await daemon.status()
        if json { return try Console.json(status) }
        Console.out("daemon pid \(status.pid), since \(Self.time(status.startedAt)), syncs every \(status.syncInterval) s")
        if let relay = status.relay { Console.out("serving a relay at \(relay)") }
        let outbox = status.outbox
        var line = "outbox: \(outbox.queued) queued"
        if let next = outbox.nextAttemptAt, outbox.queued > 0 { line += " (next attempt \(Self.time(next)))" }
        line += ", \(outbox.refused) refused, \(outbox.expired) given up after the age limit"
        Console.out(line)
        if let last = status.lastSync {
            if let report = last.report {
                Console.out("last sync \(Self.time(last.finishedAt)): delivered \(report.delivered), fetched \(report.fetched), "
                    + "new posts \(report.newPosts), waiting \(report.waiting)")
            } else {
                Console.out("last sync \(Self.time(last.finishedAt)) failed: \(last.error ?? "unknown error")")
            }
        }
    }

    static func time(_ seconds: UInt64) -> String { Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(.iso8601) }
}

/// Where the daemon's log goes.
enum LogDestination: Sendable {
    case standardError, standardOutput
    case file(Int32)

    init(_ setting: String) throws {
        switch setting {
        case "stderr": self = .standardError
        case "stdout": self = .standardOutput
        default:
            let fd = open(setting, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw NodeError("cannot open the log file \(setting): \(String(cString: strerror(errno)))") }
            self = .file(fd)
        }
    }

    var descriptor: Int32 {
        switch self {
        case .standardError: return STDERR_FILENO
        case .standardOutput: return STDOUT_FILENO
        case .file(let fd): return fd
        }
    }
}

/// One line per message: time, level, label, message, metadata; written
/// with one `write(2)` so lines from several threads never interleave.
struct LineLogHandler: LogHandler {
    let label: String
    let destination: LogDestination
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let time = Date().formatted(.iso8601)
        let text = Console.visible("\(time) \(event.level) \(label): \(event.message)\(fields.isEmpty ? "" : " " + fields)") + "\n"
        _ = text.withCString { Foundation.write(destination.descriptor, $0, strlen($0)) }
    }
}
