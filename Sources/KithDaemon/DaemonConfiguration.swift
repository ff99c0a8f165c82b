import Configuration
import Foundation
import KithNode
import Logging
import SystemPackage
import Yams

/// The daemon's settings, from the node's config file (`kith.yaml` in the
/// node directory, YAML) with every key overridable from the environment:
/// `sync.interval` is `KITH_SYNC_INTERVAL`, `outbox.max_age_days` is
/// `KITH_OUTBOX_MAX_AGE_DAYS` (dots and letters to `_` and upper case,
/// `KITH_` in front). Each key, its default and its range are in
/// `DaemonConfiguration.keys` and `config/kith.example.yaml`.
///
/// Reading is strict: an unknown key, a value of the wrong type or out of
/// range is an error naming the key and the file (or the variable), and
/// the daemon does not start. Nothing falls back to a default silently.
public struct DaemonConfiguration: Sendable, Equatable {
    /// The file read, or the path where it was looked for.
    public var file: String
    /// Whether the file existed (a node made before config files has none).
    public var fileExists: Bool

    /// A file holding the keystore passphrase on its first line; must be 0600 and mine.
    public var passphraseFile: String?
    /// The passphrase itself, from `KITH_PASSPHRASE` only (never the file).
    public var passphrase: String?

    public var logLevel: Logger.Level = .info
    /// `stderr`, `stdout`, or a file the log is appended to.
    public var logDestination = "stderr"

    /// Seconds between two syncs when nothing else asks for one.
    public var syncInterval = 60
    /// Whether a post made through the daemon is delivered at once.
    public var syncAfterPost = true

    /// Seconds each relay gets for its deliveries, and again for its fetch, in one sync.
    public var relayTimeout = 60
    /// The most envelopes asked for in one fetch request.
    public var fetchLimit = 500

    /// The first wait after a failed delivery, in seconds; it doubles at each failure.
    public var retryFirst = 5
    /// The longest wait between two attempts, in seconds.
    public var retryLongest = 3600
    /// Days a delivery is retried before it is given up and reported.
    public var outboxMaxAgeDays = 30

    /// When friends' full attachments are fetched: by each sync (`background`) or by `kith photo get` (`on-demand`).
    public var attachmentFetch: AttachmentFetch = .background

    /// The key rotation schedule to set at start, or nil to keep the node's (`kith key schedule`).
    public var rotationDays: Int?
    public var graceDays: Int?

    /// The control socket's path.
    public var controlSocket: String
    /// Whether the daemon serves the local web app.
    public var webEnabled = true
    /// The local web app's loopback address: `127.0.0.1:PORT` or `[::1]:PORT`.
    public var webListen = "127.0.0.1:8484"

    /// Whether this node also serves as a relay.
    public var relayEnabled = false
    public var relayHome: String
    public var relayListen = "127.0.0.1:8080"
    /// The relay's own JSON config file (config/README.md), or nil for its defaults.
    public var relayConfig: String?

    /// The config file's name in a node directory.
    public static let fileName = "kith.yaml"

    /// The kinds of value a key takes.
    enum Kind: Equatable {
        case section, string, int(ClosedRange<Int>), bool

        var described: String {
            switch self {
            case .section: return "a section (a mapping of keys)"
            case .string: return "a string"
            case .int(let range): return "a whole number from \(range.lowerBound) to \(range.upperBound)"
            case .bool: return "true or false"
            }
        }
    }

    /// Every key the file may hold (dotted), with its kind.
    static let keys: [String: Kind] = [
        "passphrase_file": .string,
        "log": .section, "log.level": .string, "log.destination": .string,
        "sync": .section, "sync.interval": .int(5...86_400), "sync.after_post": .bool,
        "relays": .section, "relays.timeout": .int(5...600), "relays.fetch_limit": .int(1...10_000),
        "outbox": .section, "outbox.retry_first": .int(1...3600), "outbox.retry_longest": .int(1...86_400),
        "outbox.max_age_days": .int(1...3650),
        "attachments": .section, "attachments.fetch": .string,
        "keys": .section, "keys.rotation_days": .int(1...365), "keys.grace_days": .int(1...90),
        "control": .section, "control.socket": .string,
        "web": .section, "web.enabled": .bool, "web.listen": .string,
        "relay": .section, "relay.enabled": .bool, "relay.home": .string, "relay.listen": .string, "relay.config": .string,
    ]

    /// The environment variable that overrides `key`.
    public static func variable(for key: String) -> String {
        "KITH_" + key.replacingOccurrences(of: ".", with: "_").uppercased()
    }

    /// Reads the config of the node in `home`: `file` if given (it must
    /// exist), else `home/kith.yaml` (a missing one means the defaults),
    /// with `environment` over it.
    public static func load(home: String, file: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> DaemonConfiguration {
        // Absolute, so that the socket's path in the lock file means the same from any directory.
        let home = URL(fileURLWithPath: home).standardizedFileURL.path
        let path = file ?? (home as NSString).appendingPathComponent(fileName)
        let exists = FileManager.default.fileExists(atPath: path)
        if file != nil, !exists { throw DaemonConfigurationError("no config file at \(path)") }
        if exists { try checkKeys(path: path) }

        // Only KITH_ variables, without the prefix: the provider maps sync.interval to SYNC_INTERVAL.
        var variables: [String: String] = [:]
        for (name, value) in environment where name.hasPrefix("KITH_") { variables[String(name.dropFirst(5))] = value }
        var providers: [any ConfigProvider] = [EnvironmentVariablesProvider(environmentVariables: variables, secretsSpecifier: .specific(["PASSPHRASE"]))]
        if exists {
            do {
                providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(path)))
            } catch {
                throw DaemonConfigurationError("\(path) is not valid YAML: \(error)")
            }
        }
        let source = Source(reader: ConfigReader(providers: providers), file: path, environment: environment)

        var c = DaemonConfiguration(file: path, fileExists: exists, controlSocket: (home as NSString).appendingPathComponent("daemon.sock"),
                                    relayHome: (home as NSString).appendingPathComponent("relay"))
        func relative(_ value: String) -> String { value.hasPrefix("/") ? value : (home as NSString).appendingPathComponent(value) }

        c.passphraseFile = try source.string("passphrase_file").map(relative)
        c.passphrase = try source.string("passphrase", secret: true)
        if let level = try source.string("log.level") {
            guard let parsed = Logger.Level(rawValue: level) else {
                throw source.invalid("log.level", "trace, debug, info, notice, warning, error or critical", level)
            }
            c.logLevel = parsed
        }
        if let destination = try source.string("log.destination") {
            guard !destination.isEmpty else { throw source.invalid("log.destination", "stderr, stdout or a file", destination) }
            c.logDestination = ["stderr", "stdout"].contains(destination) ? destination : relative(destination)
        }
        c.syncInterval = try source.int("sync.interval") ?? c.syncInterval
        c.syncAfterPost = try source.bool("sync.after_post") ?? c.syncAfterPost
        c.relayTimeout = try source.int("relays.timeout") ?? c.relayTimeout
        c.fetchLimit = try source.int("relays.fetch_limit") ?? c.fetchLimit
        c.retryFirst = try source.int("outbox.retry_first") ?? c.retryFirst
        c.retryLongest = try source.int("outbox.retry_longest") ?? c.retryLongest
        guard c.retryLongest >= c.retryFirst else {
            throw source.invalid("outbox.retry_longest", "at least outbox.retry_first (\(c.retryFirst))", String(c.retryLongest))
        }
        c.outboxMaxAgeDays = try source.int("outbox.max_age_days") ?? c.outboxMaxAgeDays
        if let fetch = try source.string("attachments.fetch") {
            guard let parsed = AttachmentFetch(rawValue: fetch) else { throw source.invalid("attachments.fetch", "background or on-demand", fetch) }
            c.attachmentFetch = parsed
        }
        c.rotationDays = try source.int("keys.rotation_days")
        c.graceDays = try source.int("keys.grace_days")
        if let socket = try source.string("control.socket") {
            guard !socket.isEmpty else { throw source.invalid("control.socket", "a path", socket) }
            c.controlSocket = relative(socket)
        }
        // sockaddr_un holds 108 bytes with the final NUL.
        guard c.controlSocket.utf8.count < 108 else {
            throw source.invalid("control.socket", "a path shorter than 108 bytes (a Unix socket's limit)", c.controlSocket)
        }
        c.webEnabled = try source.bool("web.enabled") ?? true
        if let listen = try source.string("web.listen") {
            try checkLoopback(listen, key: "web.listen", source: source)
            c.webListen = listen
        }
        c.relayEnabled = try source.bool("relay.enabled") ?? false
        c.relayHome = try source.string("relay.home").map(relative) ?? c.relayHome
        if let listen = try source.string("relay.listen") {
            guard HostPort(listen) != nil else { throw source.invalid("relay.listen", "host:port, e.g. 0.0.0.0:8080", listen) }
            c.relayListen = listen
        }
        c.relayConfig = try source.string("relay.config").map(relative)
        return c
    }

    /// The retry policy the outbox keys describe.
    public var retryPolicy: RetryPolicy { RetryPolicy(first: UInt64(retryFirst), longest: UInt64(retryLongest)) }

    /// Only the two loopback addresses, written as such: a name (`localhost`)
    /// can resolve to both, and only the first would be bound, leaving the
    /// other family's port to whoever takes it first.
    static func checkLoopback(_ listen: String, key: String, source: Source) throws {
        guard let address = HostPort(listen), [ "127.0.0.1:\(address.port)", "[::1]:\(address.port)"].contains(listen) else {
            throw source.invalid(key, "127.0.0.1:PORT or [::1]:PORT (a loopback address, not a name), e.g. 127.0.0.1:8484", listen)
        }
    }

    /// Compares the file's keys, recursively, with `keys`: an unknown key,
    /// or a section where a value belongs (or the reverse), is an error.
    static func checkKeys(path: String) throws {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw DaemonConfigurationError("cannot read the config file \(path): \(error.localizedDescription)")
        }
        let root: Yams.Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw DaemonConfigurationError("\(path) is not valid YAML: \(String(describing: error).split(separator: "\n").first ?? "")")
        }
        guard let root else { return }
        if case .scalar(let scalar) = root, isNull(scalar) { return }
        guard case .mapping(let mapping) = root else {
            throw DaemonConfigurationError("\(path) must be a mapping of keys (see config/kith.example.yaml)")
        }
        try check(mapping, prefix: "", path: path)
    }

    /// An empty value: nothing, `~` or `null`, unquoted.
    private static func isNull(_ scalar: Yams.Node.Scalar) -> Bool {
        scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    private static func check(_ mapping: Yams.Node.Mapping, prefix: String, path: String) throws {
        var seen = Set<String>()
        for (keyNode, value) in mapping {
            guard let name = keyNode.scalar?.string else { throw DaemonConfigurationError("\(path): a key under \"\(prefix)\" is not a name") }
            let key = prefix.isEmpty ? name : prefix + "." + name
            guard seen.insert(name).inserted else { throw DaemonConfigurationError("\(path): key \"\(key)\" is given twice") }
            if key == "passphrase" {
                throw DaemonConfigurationError("\(path): the passphrase does not belong in the config file",
                                               hint: "put it in a file of its own (mode 0600) named by passphrase_file, or set KITH_PASSPHRASE")
            }
            guard let kind = keys[key] else {
                throw DaemonConfigurationError("\(path): unknown key \"\(key)\"", hint: "the keys are listed in config/kith.example.yaml")
            }
            switch (kind, value) {
            case (.section, .mapping(let inner)):
                try check(inner, prefix: key, path: path)
            case (.section, .scalar(let scalar)) where isNull(scalar):
                break  // a section with every key commented out
            case (.section, _):
                throw DaemonConfigurationError("\(path): \"\(key)\" must be \(kind.described)")
            case (_, .scalar):
                break
            default:
                throw DaemonConfigurationError("\(path): \"\(key)\" must be \(kind.described), not a list or section")
            }
        }
    }

    /// Reads typed values through swift-configuration, turning a missing
    /// value into nil and anything else that fails into an error naming the
    /// key and where it came from.
    struct Source {
        let reader: ConfigReader
        let file: String
        let environment: [String: String]

        /// Where `key`'s value comes from: its variable if set, else the file.
        func origin(_ key: String) -> String {
            let variable = DaemonConfiguration.variable(for: key)
            return environment[variable] != nil ? variable : "\"\(key)\" in \(file)"
        }

        func invalid(_ key: String, _ expected: String, _ value: String?) -> DaemonConfigurationError {
            let shown = value.map { " (\"\(String($0.prefix(80)))\")" } ?? ""
            return DaemonConfigurationError("\(origin(key)) must be \(expected)\(shown)")
        }

        /// nil when `key` has no value anywhere; its value as `body` reads it,
        /// or an error naming the key and its origin when that fails.
        private func read<T>(_ key: String, kind: String, value: String?, _ body: () throws -> T) throws -> T? {
            // Every scalar reads as a string, so a value that does not is missing
            // (lists and sections in the file were refused by `checkKeys`).
            guard value != nil else { return nil }
            do { return try body() } catch { throw invalid(key, kind, value) }
        }

        /// The raw text of a value, for messages (never for secrets).
        private func raw(_ key: String) -> String? { reader.string(forKey: ConfigKey(key)) }

        func string(_ key: String, secret: Bool = false) throws -> String? {
            reader.string(forKey: ConfigKey(key), isSecret: secret)
        }

        func int(_ key: String) throws -> Int? {
            guard case .int(let range) = DaemonConfiguration.keys[key] ?? .string else { return nil }
            let expected = Kind.int(range).described
            guard let value = try read(key, kind: expected, value: raw(key), { try reader.requiredInt(forKey: ConfigKey(key)) }) else { return nil }
            guard range.contains(value) else { throw invalid(key, expected, String(value)) }
            return value
        }

        func bool(_ key: String) throws -> Bool? {
            try read(key, kind: "true or false", value: raw(key)) { try reader.requiredBool(forKey: ConfigKey(key)) }
        }
    }
}

/// `host:port`, the host possibly in brackets: a listening address.
public struct HostPort: Equatable, Sendable {
    public let host: String
    public let port: Int

    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }
}

/// A config that cannot be used: the description names the key and the
/// file or variable it came from.
public struct DaemonConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public let hint: String?

    public init(_ description: String, hint: String? = nil) {
        self.description = description
        self.hint = hint
    }
}
