import Hummingbird

/// A request's context: the session its cookie names, once `WebGuard` found it.
struct WebContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var session: WebSessions.Session?
    var sessionID: String?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}
