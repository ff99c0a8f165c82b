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
            `feed`, `sync`, `status`, `card`, `whoami`, `friend ...`, `group ...`, `key show`, \
            `key rotate`, `key schedule` and `relay add`/`remove` for the same --home go through its \
            control socket (DIR/daemon.sock, mode 0600, served only to processes of the same user) \
            and need no passphrase; `key passwd` is refused until it stops. Prints "daemon running, \
            control socket PATH" on standard output once it serves; logs go to standard error unless \
            log.destination says otherwise (one line per event, never a text, name, token or key). Exits 0 \
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
        let lock = try DaemonLock.acquire(home: dir)
        var passphrase = try Self.passphrase(settings)
        defer { wipe(&passphrase) }
        var unlocked = try node.unlock(passphrase: passphrase)
        wipe(&passphrase)
        unlocked.allowsLocalRelays = Input.allowLocalRelays

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

/// `kith status`: the node's state, through its daemon if one runs.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the node's state: identity, relays, queued deliveries, waiting envelopes, unread posts, key rotation.",
        discussion: """
            Shows your name and fingerprint; each relay with its last successful sync and its last \
            error; the deliveries queued for each friend with their next attempt and why the last one \
            failed; the fetched envelopes that wait (for an audience key, or for a sender to become a \
            friend) and why; how many posts of others are unread (not shown by `kith feed` or `kith show`, \
            nor marked read: `kith feed --unread` shows them; comments do not count); how many friend \
            requests wait (`kith friend requests`); the \
            outbox in numbers; and when the encryption key is next replaced. While a daemon runs for \
            the node, it answers (no passphrase needed) and adds its own state: pid, start, sync \
            interval and its last sync. Without one the node is read directly. --json prints all of \
            it exactly, as README.md describes.
            """
    )

    @OptionGroup var home: HomeOptions

    @Flag(help: "Print the status as JSON: {node: {...}, daemon: {...} or null}.") var json = false

    func run() async throws {
        let status: Status
        if let daemon = ControlClient.running(home: try home.resolve()) {
            status = try await daemon.status()
        } else {
            status = Status(node: try await home.unlock().status(), daemon: nil)
        }
        if json { return try Console.json(status) }
        let node = status.node
        Console.out("\(node.name)  \(node.fingerprint)")
        if let daemon = status.daemon {
            Console.out("daemon     pid \(daemon.pid), since \(Self.time(daemon.startedAt)), syncs every \(daemon.syncInterval) s")
            if let relay = daemon.relay { Console.out("           serving a relay at \(relay)") }
            if let last = daemon.lastSync {
                if let report = last.report {
                    Console.out("last sync  \(Self.time(last.finishedAt)): delivered \(report.delivered), fetched \(report.fetched), "
                        + "new posts \(report.newPosts), waiting \(report.waiting)")
                } else {
                    Console.out("last sync  \(Self.time(last.finishedAt)) failed: \(last.error ?? "unknown error")")
                }
            }
        } else {
            Console.out("daemon     none runs for this node")
        }
        for relay in node.relays {
            var line = "relay      \(relay.relay)\(relay.mine ? " (my mailbox)" : ""): "
            line += relay.lastSuccessAt.map { "last synced \(Self.time($0))" } ?? "never synced"
            if let error = relay.lastError, let at = relay.lastErrorAt { line += "; last error \(Self.time(at)): \(error)" }
            Console.out(line)
        }
        for queued in node.queued {
            let whom = queued.friend ?? "mailboxes of no friend now"
            let count = queued.count == 1 ? "1 delivery" : "\(queued.count) deliveries"
            Console.out("queued     \(count) for \(whom) on \(queued.relay), next attempt \(Self.time(queued.nextAttemptAt)): "
                + (queued.lastError.map { "last failed: \($0)" } ?? "not tried yet"))
        }
        for pending in node.pending {
            Console.out("waiting    \(pending.count) fetched \(pending.count == 1 ? "envelope" : "envelopes"): \(pending.reason) "
                + "(since \(Self.time(pending.oldestReceivedAt)))")
        }
        Console.out("unread     \(node.unread) \(node.unread == 1 ? "post" : "posts") not shown yet (kith feed --unread)")
        if node.friendRequests > 0 {
            Console.out("requests   \(node.friendRequests) friend \(node.friendRequests == 1 ? "request waits" : "requests wait") (kith friend requests)")
        }
        let outbox = node.outbox
        Console.out("outbox     \(outbox.queued) queued, \(outbox.refused) refused, \(outbox.expired) given up after the age limit")
        Console.out("rotation   every \(node.rotation.everyDays) days, next at the first sync after \(Self.time(node.rotation.nextAt)); "
            + "old secrets kept \(node.rotation.graceDays) days")
    }

    static func time(_ seconds: UInt64) -> String { Date(timeIntervalSince1970: TimeInterval(min(seconds, 253_402_300_799))).formatted(.iso8601) }
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
