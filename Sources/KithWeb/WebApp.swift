import Foundation
import Hummingbird
import KithNode
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The web app the daemon serves to its owner on a loopback address: the
/// feed, a post with its comments, the composer and the comment form,
/// reactions, editing and deleting, the people pages, as
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
    /// The invitation made last on the friends page, shown there until it expires.
    let invitation = LatestInvitation()
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
        let (listener, logger, host) = (app.listener, logger, host)
        let held = Mutex<Int32>(-1)
        defer { held.withLock { if $0 >= 0 { close($0) } } }
        let server = Application(router: app.router(), configuration: .init(address: .hostname(host, port: port), serverName: nil),
                                 onServerRunning: { channel in
                                     guard let port = channel.localAddress?.port else { return }
                                     guard let fd = Self.holdOtherLoopback(than: host, port: port) else {
                                         let why = "\(host == "::1" ? "127.0.0.1" : "[::1]"):\(port) is in use by another program "
                                             + "(browsers try both loopback addresses for NAME.localhost)"
                                         listener.failed(why)
                                         logger.error("web app not served", metadata: ["reason": "\(why)"])
                                         return
                                     }
                                     held.withLock { $0 = fd }
                                     listener.listening(port: port)
                                     logger.info("web app listening", metadata: ["port": "\(port)"])
                                 },
                                 logger: logger)
        do {
            try await server.run()
        } catch where listener.port == nil && listener.failure == nil {
            let why = (error as? IOError)?.errnoCode == EADDRINUSE
                ? "\(host):\(port) is in use by another program" : "cannot listen on \(host):\(port) (\(error))"
            listener.failed(why)
            logger.error("web app not served", metadata: ["reason": "\(why)"])
            try? await gracefulShutdown()
        }
    }

    /// Binds `port` on the other loopback address (::1 beside 127.0.0.1, and
    /// the reverse) without listening: browsers send `NAME.localhost` to
    /// both, so a program of another user there would be sent the login
    /// link. A connection to it is refused, and the browser goes on to the
    /// address the app listens on. The socket to keep open (-1 when the
    /// machine has no such address), or nil when another program holds it.
    static func holdOtherLoopback(than host: String, port: Int) -> Int32? {
        let six = host != "::1"
        let fd = socket(six ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        let bound: Int32
        if six {
            var only: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &only, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(clamping: port).bigEndian)
            address.sin6_addr = in6addr_loopback
            bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(clamping: port).bigEndian)
            address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
            bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        if bound == 0 { return fd }
        let error = errno
        close(fd)
        return error == EADDRINUSE ? nil : -1
    }
}
