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
    let store: any RelayStorage
    var relayConfiguration: RelayConfiguration
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
        if file.store != nil || file.storePasswordFile != nil {
            throw DaemonConfigurationError("relay.config \(configuration.relayConfig ?? ""): the daemon's relay keeps its store in relay.home; relay.store is for `kith relay`")
        }
        do { relayConfiguration = try RelayConfiguration(file: file) } catch {
            throw DaemonConfigurationError("relay.config \(configuration.relayConfig ?? ""): \(error.description)")
        }
        relayConfiguration.storageDirectory = configuration.relayHome
        guard let address = HostPort(configuration.relayListen) else { throw DaemonConfigurationError("relay.listen must be host:port") }
        host = address.host
        port = address.port
        store = try RelayDirectory.openStore(configuration.relayHome)
        self.logger = logger
        self.listening = listening
    }

    func run() async throws {
        let host = self.host, listening = self.listening
        try await runRelay(store: store, configuration: relayConfiguration, host: host, port: port, logger: logger, handlingSignals: false) { bound in
            listening("http://\(host.contains(":") ? "[\(host)]" : host):\(bound)")
        }
    }
}
