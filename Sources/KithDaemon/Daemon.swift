import Foundation
import Hummingbird
import KithNode
import KithRelay
import KithWeb
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `kith daemon`: the node's parts as services in one `ServiceGroup`,
/// started in order and stopped in reverse at SIGTERM or SIGINT:
///
/// 1. the embedded relay, when `relay.enabled` (its HTTP server and its collector),
/// 2. sync: delivery of the outbox and fetching of the inboxes, at
///    `sync.interval`, at once after a post, and when a `MailSignal` says so,
/// 3. the key rotation schedule,
/// 4. the local web app, when `web.enabled` (`WebApp`),
/// 5. the control socket, for the command line (`ControlRoutes`).
///
/// Everything the daemon does is committed to SQLite before it is
/// acknowledged to anyone, so stopping it at any moment (even `kill -9`)
/// loses nothing: a restart goes on from the database.
public struct Daemon: Sendable {
    public let node: Node
    public let configuration: DaemonConfiguration
    public let logger: Logger
    /// Push from relays, when there is one; polling otherwise.
    public var mailSignal: (any MailSignal)?

    public init(node: Node, configuration: DaemonConfiguration, logger: Logger, mailSignal: (any MailSignal)? = nil) {
        var node = node
        node.retryPolicy = configuration.retryPolicy
        node.attachmentFetch = configuration.attachmentFetch
        self.node = node
        self.configuration = configuration
        self.logger = logger
        self.mailSignal = mailSignal
    }

    /// Runs until SIGTERM or SIGINT. `ready` is called once the control
    /// socket accepts connections, with the embedded relay's URL if any.
    public func run(lock: DaemonLock, ready: @escaping @Sendable (_ socket: String, _ relay: String?) -> Void) async throws {
        let config = configuration
        if config.rotationDays != nil || config.graceDays != nil {
            _ = try await node.setRotationSchedule(everyDays: config.rotationDays, graceDays: config.graceDays)
        }
        let trigger = SyncTrigger()
        let startedAt = Node.now()
        let relayURL = RelayURL()
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []

        if config.relayEnabled {
            let relay = try EmbeddedRelay(configuration: config, logger: logger) { url in
                relayURL.set(url)
                trigger.fire()
            }
            services.append(.init(service: relay, serviceName: "relay"))
        }
        let node = self.node
        if config.webEnabled { try DaemonWebNode.prepareFiles(home: node.home) }
        let web = config.webEnabled
            ? try WebApp(node: DaemonWebNode(node: node, queued: { if config.syncAfterPost { trigger.fire() } }),
                         hostName: WebHostName.load(home: node.home),
                         loginPage: (node.home as NSString).appendingPathComponent(WebApp.loginPageName)) : nil
        let runner = SyncRunner(node: node, maxAgeDays: config.outboxMaxAgeDays, fetchLimit: config.fetchLimit,
                                relayTimeout: config.relayTimeout, logger: logger, events: web?.events)
        services.append(.init(service: SyncService(runner: runner, trigger: trigger, interval: config.syncInterval,
                                                   signal: mailSignal, logger: logger), serviceName: "sync"))
        services.append(.init(service: RotationService(node: node, trigger: trigger, logger: logger), serviceName: "rotation"))
        if let web, let address = HostPort(config.webListen) {
            services.append(.init(service: web.service(host: address.host, port: address.port, logger: logger), serviceName: "web"))
        }

        let routes = ControlRoutes(node: node, runner: runner, trigger: trigger, syncAfterPost: config.syncAfterPost, webLogin: {
            guard let web else { throw NodeError("the web app is off", hint: "web.enabled is false in \(config.file) (or KITH_WEB_ENABLED)") }
            do { return WebLogin(url: try web.loginURL()) } catch let error as WebError { throw NodeError(error.description, hint: error.hint) }
        }) {
            Status(node: try await node.status(),
                   daemon: DaemonStatus(pid: getpid(), startedAt: startedAt, syncInterval: config.syncInterval,
                                        lastSync: await runner.lastSync(), relay: relayURL.get()))
        }
        // A socket left by a daemon that was killed: the lock says none runs now. Anything else there stays.
        let socket = config.controlSocket
        var info = stat()
        if lstat(socket, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else {
                throw NodeError("\(socket) is in the way of the control socket (control.socket) and is not a socket",
                                hint: "choose another control.socket, or move that file")
            }
            unlink(socket)
        }
        let control = Application(router: routes.router(), server: .ownerOnly,
                                  configuration: .init(address: .unixDomainSocket(path: socket), serverName: "kith-daemon"),
                                  onServerRunning: { _ in
                                      // The umask already made it 0600; this says so whatever the umask was.
                                      chmod(socket, 0o600)
                                      // Ready means every part is: the embedded relay listens too.
                                      let deadline = ContinuousClock.now + .seconds(30)
                                      while config.relayEnabled, relayURL.get() == nil, ContinuousClock.now < deadline {
                                          try? await Task.sleep(for: .milliseconds(20))
                                      }
                                      while let web, !web.settled, ContinuousClock.now < deadline {
                                          try? await Task.sleep(for: .milliseconds(20))
                                      }
                                      lock.announce(socket: socket)
                                      ready(socket, relayURL.get())
                                  },
                                  logger: logger)
        services.append(.init(service: control, serviceName: "control"))

        var groupConfiguration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                                           cancellationSignals: [], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(10)
        groupConfiguration.maximumCancellationDuration = .seconds(3)
        let group = ServiceGroup(configuration: groupConfiguration)
        logger.info("daemon started", metadata: ["home": "\(node.home)", "sync_interval": "\(config.syncInterval)"])
        defer {
            // Only the socket this daemon made: while it runs, nobody else may bind that path.
            if lstat(socket, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK { unlink(socket) }
            lock.release()
        }
        try await group.run()
        logger.info("daemon stopped")
    }
}

/// The embedded relay's URL once it listens.
final class RelayURL: Sendable {
    private let value = Mutex<String?>(nil)
    func set(_ url: String) { value.withLock { $0 = url } }
    func get() -> String? { value.withLock { $0 } }
}

/// Syncs at `interval`, or at once when the trigger fires (a post, a
/// rotated key, `kith sync`) or the mail signal says mail is waiting.
struct SyncService: Service {
    let runner: SyncRunner
    let trigger: SyncTrigger
    let interval: Int
    let signal: (any MailSignal)?
    let logger: Logger

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let signal {
                    group.addTask {
                        // Push: each announcement wakes the loop; while the relays offer none, polling alone.
                        while !Task.isCancelled {
                            do {
                                let started = ContinuousClock.now
                                try await signal.waitForMail()
                                trigger.fire()
                                // Mail after a quiet second syncs at once; a relay that keeps saying
                                // mail waits gets at most one sync a second (as `kith sync --wait`).
                                try await Task.sleep(until: started + .seconds(1), clock: .continuous)
                            } catch {
                                try? await Task.sleep(for: .seconds(interval))
                            }
                        }
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        do {
                            _ = try await runner.sync()
                        } catch {
                            if Task.isCancelled { return }
                            logger.error("sync failed", metadata: ["error": "\(error)"])
                        }
                        await trigger.wait(upTo: .seconds(interval))
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }
}

/// Keeps the key rotation schedule between syncs: checks every ten
/// minutes, and when a key is due to be replaced or an old secret erased,
/// wakes the sync, which does it first (so one place rotates, one at a
/// time) and sends the key updates at once.
struct RotationService: Service {
    let node: Node
    let trigger: SyncTrigger
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    if try await node.keyScheduleDue() { trigger.fire() }
                } catch {
                    if Task.isCancelled { return }
                    logger.error("key schedule check failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(600))
            }
        }
    }
}
