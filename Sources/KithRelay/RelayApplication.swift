import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// The relay application: size limits in front of the routes, an idle
/// timeout for connections with no request in progress, and a write timeout
/// for peers that stop reading their answers.
public func buildRelayApplication(
    store: any RelayStorage,
    configuration: RelayConfiguration,
    host: String,
    port: Int,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let router = Router(context: RelayRequestContext.self)
    RelayController(store: store, configuration: configuration).addRoutes(to: router)
    let responder = RequestSizeLimits(next: router.buildResponder(), maxTargetBytes: configuration.maxRequestTargetBytes,
                                      maxHeaderBytes: configuration.maxHeaderBytes)
    let writeTimeout = TimeAmount.seconds(configuration.writeTimeoutSeconds)
    let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [WriteTimeoutHandler(timeout: writeTimeout)],
                                           idleTimeout: .seconds(configuration.idleTimeoutSeconds))
    return Application(
        responder: responder,
        server: .http1(configuration: http1),
        configuration: .init(address: .hostname(host, port: port), serverName: "kith-relay"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
        logger: logger
    )
}
