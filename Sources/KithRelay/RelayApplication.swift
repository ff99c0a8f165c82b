import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// The relay application: connection limits and a request deadline on the
/// raw connection (`ConnectionGuard`), size limits in front of the routes,
/// an idle timeout for connections with no request in progress, and a write
/// timeout for peers that stop reading their answers.
public func buildRelayApplication(
    store: any RelayStorage,
    configuration: RelayConfiguration,
    host: String,
    port: Int,
    logger: Logger,
    metrics: RelayMetrics = RelayMetrics(),
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let router = Router(context: RelayRequestContext.self)
    router.add(middleware: RelayMetricsMiddleware(metrics: metrics))
    router.add(middleware: JSONErrorBodies())
    if let directory = configuration.storageDirectory {
        router.add(middleware: DiskSpaceGuard(directory: directory, minFreeBytes: configuration.minFreeBytes))
    }
    RelayController(store: store, configuration: configuration).addRoutes(to: router)
    OperatorRoutes(store: store, metrics: metrics, metricsToken: configuration.metricsToken).add(to: router)
    let responder = RequestSizeLimits(next: router.buildResponder(), maxTargetBytes: configuration.maxRequestTargetBytes,
                                      maxHeaderBytes: configuration.maxHeaderBytes, maxBodyBytes: configuration.maxRequestBytes)
    let writeTimeout = TimeAmount.seconds(configuration.writeTimeoutSeconds)
    let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [WriteTimeoutHandler(timeout: writeTimeout)],
                                           idleTimeout: .seconds(configuration.idleTimeoutSeconds))
    let counter = ConnectionCounter(perClient: configuration.maxConnectionsPerClient,
                                    total: ConnectionCounter.total(configured: configuration.maxConnections),
                                    trustedProxies: configuration.trustedProxies)
    let server = HTTPServerBuilder { responder in
        GuardedHTTP1Channel(inner: HTTP1Channel(responder: responder, configuration: http1), counter: counter,
                            requestTimeout: .seconds(configuration.requestTimeoutSeconds))
    }
    return Application(
        responder: responder,
        server: server,
        configuration: .init(address: .hostname(host, port: port), serverName: "kith-relay"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
        logger: logger
    )
}
