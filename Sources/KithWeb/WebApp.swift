import Foundation
import Hummingbird
import KithNode
import Logging
import NIOCore
import ServiceLifecycle

/// The web app the daemon serves to its owner on a loopback address: the
/// feed, a post with its comments, the composer and the comment form, as
/// server-rendered pages that work without JavaScript (one small script
/// only adds live updates). Every action runs on the node as the matching
/// command line command does (`WebNode`).
///
/// It answers only to its own host name, `NAME.localhost:PORT`
/// (`WebHostName`), whatever loopback address it listens on.
///
/// Signing in: `kith open` asks the daemon, over its owner-only control
/// socket, for a one-time login link (`loginURL()`); the link's page sets
/// a session cookie and forgets the token (`WebSessions`).
public struct WebApp: Sendable {
    public let sessions: WebSessions
    public let events: WebEvents
    let node: any WebNode
    let templates: Templates
    let listener: WebListener
    /// The node's forwarding page for the browser (`loginPageName`), removed once its link is spent.
    let loginPage: String?

    /// The page `kith open` leaves in the node directory for the browser it starts: it forwards to a login link.
    public static let loginPageName = "web-login.html"

    /// The largest form accepted: a post's text is at most 64 KiB, three times that once URL-encoded.
    static let maxForm = 256 << 10

    /// `hostName` is the node's `WebHostName`; `loginPage` the path of its forwarding page.
    public init(node: any WebNode, hostName: String, loginPage: String? = nil, sessions: WebSessions = WebSessions(),
                events: WebEvents = WebEvents()) throws {
        self.node = node
        listener = WebListener(name: hostName)
        self.loginPage = loginPage
        self.sessions = sessions
        self.events = events
        templates = try Templates()
    }

    /// A fresh one-time login link, or why there is none.
    public func loginURL() throws -> String {
        guard let base = listener.base else {
            throw WebError("the web app is not running" + (listener.failure.map { ": \($0)" } ?? ""),
                           hint: "the daemon's log says more; web.listen in kith.yaml sets its address")
        }
        return base + "/login?token=\(sessions.mintLogin())"
    }

    /// Removes the forwarding page once the link it holds, `token`'s, is spent
    /// (`kith open` removes one left behind by a link that expired).
    func spent(token: String) {
        guard let loginPage, let file = FileHandle(forReadingAtPath: loginPage) else { return }
        defer { try? file.close() }
        guard let head = try? file.read(upToCount: 4096), String(decoding: head, as: UTF8.self).contains("/login?token=\(token)\"") else { return }
        unlink(loginPage)
    }

    /// Whether the server listens, or failed to: the daemon is ready only then.
    public var settled: Bool { listener.port != nil || listener.failure != nil }

    /// The web app's server on `host:port` (127.0.0.1 or ::1; port 0
    /// picks a free one), as a service for the daemon's group. If it cannot
    /// listen (the port is taken), the daemon goes on without it and
    /// `kith open` says why.
    public func service(host: String, port: Int, logger: Logger) -> some Service {
        WebService(app: self, host: host, port: port, logger: logger)
    }

    func router() -> Router<WebContext> {
        let router = Router(context: WebContext.self)
        router.add(middleware: WebGuard(sessions: sessions, listener: listener, templates: templates))
        WebRoutes(app: self).add(to: router)
        return router
    }
}

struct WebService: Service {
    let app: WebApp
    let host: String
    let port: Int
    let logger: Logger

    func run() async throws {
        let listener = app.listener
        let logger = logger
        let server = Application(router: app.router(), configuration: .init(address: .hostname(host, port: port), serverName: nil),
                                 onServerRunning: { channel in
                                     guard let port = channel.localAddress?.port else { return }
                                     listener.listening(port: port)
                                     logger.info("web app listening", metadata: ["port": "\(port)"])
                                 },
                                 logger: logger)
        do {
            try await server.run()
        } catch where listener.port == nil {
            let why = (error as? IOError)?.errnoCode == EADDRINUSE
                ? "\(host):\(port) is in use by another program" : "cannot listen on \(host):\(port) (\(error))"
            listener.failed(why)
            logger.error("web app not served", metadata: ["reason": "\(why)"])
            try? await gracefulShutdown()
        }
    }
}
