import Foundation
import Hummingbird
import KithNode
import KithRelay
import Logging
import ServiceLifecycle

/// The relay a node serves when `relay.enabled` is true: the same
/// application and store as `kith relay`, in the daemon's process, with its
/// policy from the relay's own JSON config file (`relay.config`) and its
/// directory and address from the node's config.
struct EmbeddedRelay: Service {
    let store: RelayStore
    let relayConfiguration: RelayConfiguration
    let host: String
    let port: Int
    let logger: Logger
    let listening: @Sendable (String) -> Void

    init(configuration: DaemonConfiguration, logger: Logger, listening: @escaping @Sendable (String) -> Void) throws {
        var file = RelayFileConfiguration()
        if let path = configuration.relayConfig {
            do { file = try RelayFileConfiguration.load(path: path) } catch let error as RelayFileConfiguration.ConfigError {
                throw DaemonConfigurationError("relay.config \(path): \(error.description)")
            }
        }
        do { relayConfiguration = try RelayConfiguration(file: file) } catch {
            throw DaemonConfigurationError("relay.config \(configuration.relayConfig ?? ""): \(error.description)")
        }
        guard let address = HostPort(configuration.relayListen) else { throw DaemonConfigurationError("relay.listen must be host:port") }
        host = address.host
        port = address.port
        store = try Self.openStore(configuration.relayHome)
        self.logger = logger
        self.listening = listening
    }

    /// Opens the relay's database in `dir`, making a new directory 0700 and
    /// a new database 0600, as `kith relay` does.
    static func openStore(_ dir: String) throws -> RelayStore {
        if !FileManager.default.fileExists(atPath: dir) {
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
                throw NodeError("cannot create \(dir): \(error.localizedDescription)")
            }
        }
        let databasePath = (dir as NSString).appendingPathComponent("relay.sqlite")
        try SecureFile.createPrivateIfMissing(databasePath)
        return try RelayStore(path: databasePath)
    }

    func run() async throws {
        let clock = relayConfiguration.clock, batch = relayConfiguration.collectionBatch
        try await store.collectGarbage(now: clock(), batch: batch)
        let host = self.host, listening = self.listening
        let app = buildRelayApplication(store: store, configuration: relayConfiguration, host: host, port: port, logger: logger) { bound in
            listening("http://\(host.contains(":") ? "[\(host)]" : host):\(bound)")
        }
        let store = self.store, logger = self.logger
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            group.addTask {
                // Once a minute, as `kith relay` does; it ends when the server has stopped.
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(60))
                    if Task.isCancelled { return }
                    do {
                        let collected = try await store.collect(now: clock(), batch: batch)
                        if collected.references + collected.bodies > 0 {
                            logger.info("expired envelopes collected",
                                        metadata: ["references": "\(collected.references)", "bodies": "\(collected.bodies)"])
                        }
                    } catch { logger.error("garbage collection failed", metadata: ["error": "\(error)"]) }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }
}
