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
    relayApplication(store: store, configuration: configuration, host: host, port: port, logger: logger, metrics: metrics,
                     onServerRunning: onServerRunning).application
}

/// The application and the waiters for mail its routes hold, which mail
/// dropped through other processes sharing the store must wake.
func relayApplication(
    store: any RelayStorage,
    configuration: RelayConfiguration,
    host: String,
    port: Int,
    logger: Logger,
    metrics: RelayMetrics = RelayMetrics(),
    onServerRunning: @escaping @Sendable (Int) async -> Void
) -> (application: some ApplicationProtocol, waiters: MailWaiters) {
    let router = Router(context: RelayRequestContext.self)
    router.add(middleware: RelayMetricsMiddleware(metrics: metrics))
    router.add(middleware: JSONErrorBodies())
    router.add(middleware: StoreUnavailableAnswers())
    if let directory = configuration.storageDirectory {
        router.add(middleware: DiskSpaceGuard(directory: directory, minFreeBytes: configuration.minFreeBytes))
    }
    let controller = RelayController(store: store, configuration: configuration)
    controller.addRoutes(to: router)
    OperatorRoutes(store: store, metrics: metrics, metricsToken: configuration.metricsToken, waiters: controller.waiters).add(to: router)
    let responder = RequestSizeLimits(next: router.buildResponder(), maxTargetBytes: configuration.maxRequestTargetBytes,
                                      maxHeaderBytes: configuration.maxHeaderBytes, maxBodyBytes: configuration.maxRequestBytes,
                                      maxBlobUploadBytes: configuration.maxBlobUploadBytes)
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
    let application = Application(
        responder: responder,
        server: server,
        configuration: .init(address: .hostname(host, port: port), serverName: "kith-relay"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
        logger: logger
    )
    return (application, controller.waiters)
}

/// Runs a relay until it stops: its store's background work
/// (`RelayStorage.run`, e.g. a connection pool) beside the application;
/// mail that other relay processes sharing the store received
/// (`RelayStorage.arrivals`) wakes this process's waiters; the store's
/// expired envelopes are collected at start and once a minute (expired
/// references, then the bodies no mailbox references, then expired nonces,
/// in bounded batches). With `handlingSignals`, SIGTERM and SIGINT stop it
/// gracefully (`kith relay`); without, the caller's service group does (the
/// daemon). A store whose background work fails stops the relay with its error.
public func runRelay(store: any RelayStorage, configuration: RelayConfiguration, host: String, port: Int, logger: Logger,
                     handlingSignals: Bool, onServerRunning: @escaping @Sendable (Int) async -> Void) async throws {
    let clock = configuration.clock, batch = configuration.collectionBatch
    let (app, waiters) = relayApplication(store: store, configuration: configuration, host: host, port: port, logger: logger,
                                          onServerRunning: onServerRunning)
    // Each task returns whether it was the server: only the server's end (or an error) ends the relay.
    try await withThrowingTaskGroup(of: Bool.self) { group in
        defer { group.cancelAll() }
        group.addTask { try await store.run(); return false }
        if let arrivals = store.arrivals {
            group.addTask {
                for await mailbox in arrivals { waiters.notify(mailbox) }
                return false
            }
        }
        try await store.collectGarbage(now: clock(), batch: batch)
        group.addTask {
            if handlingSignals { try await app.runService() } else { try await app.run() }
            return true
        }
        group.addTask {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(60))
                if Task.isCancelled { return false }
                do {
                    let collected = try await store.collect(now: clock(), batch: batch)
                    if collected.references + collected.bodies + collected.blobReferences + collected.blobs > 0 {
                        logger.info("expired envelopes collected", metadata: ["references": "\(collected.references)", "bodies": "\(collected.bodies)",
                                                                            "blob_references": "\(collected.blobReferences)", "blobs": "\(collected.blobs)"])
                    }
                } catch { logger.error("garbage collection failed", metadata: ["error": "\(error)"]) }
            }
            return false
        }
        while let serverEnded = try await group.next(), !serverEnded {}
    }
}
