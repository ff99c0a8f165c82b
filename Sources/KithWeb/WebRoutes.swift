import Foundation
import Hummingbird
import HTTPTypes
import KithNode
import ServiceLifecycle

/// The pages and forms. Every form is a POST answered with a redirect to
/// a page (post/redirect/get), or with a page saying what was wrong.
struct WebRoutes: Sendable {
    let app: WebApp
    var node: any WebNode { app.node }
    var templates: Templates { app.templates }

    func add(to router: Router<WebContext>) {
        router.get("/static/kith.css") { _, _ in asset(Templates.stylesheet, type: "text/css; charset=utf-8") }
        router.get("/static/kith.js") { _, _ in asset(Templates.script, type: "text/javascript; charset=utf-8") }
        router.get("/welcome") { _, context in
            context.session == nil ? templates.response(WebGuard.signedOut) : redirect("/")
        }
        router.get("/login") { request, _ in login(request) }
        router.post("/logout") { request, context in try await logout(request, context) }
        router.get("/") { request, context in try await feed(request, context) }
        router.get("/posts/:id") { request, context in try await show(request, context) }
        router.post("/posts") { request, context in try await post(request, context) }
        router.post("/posts/:id/comments") { request, context in try await comment(request, context) }
        addThreadRoutes(to: router)
        addFriendRoutes(to: router)
        addMessageRoutes(to: router)
        addAudienceRoutes(to: router)
        addStatusRoutes(to: router)
        addPhotoRoutes(to: router)
        router.get("/events") { request, context in
            _ = try signedIn(context)
            return try events(request)
        }
    }

    // MARK: Signing in and out

    func login(_ request: Request) -> Response {
        guard let token = request.uri.queryParameters.get("token"), let id = app.sessions.logIn(token: token) else {
            return templates.response(MessagePage(
                title: "This login link does not work",
                message: "A login link works once, within two minutes of `kith open` printing it: this one was used already, "
                    + "is older than that, or was not copied whole.",
                hint: "Run `kith open` again for a new link."), status: .forbidden)
        }
        app.spent(token: token)
        // A page of this app that moves on to the feed, not a redirect: after `kith open`'s forwarding page (a file) the
        // redirect would end a cross-site chain, and the browser would not send the new SameSite=Strict cookie with it.
        var response = templates.response(MessagePage(title: "Signed in", message: "This browser is signed in to your Kith node.", next: "/"))
        response.headers[.setCookie] = "\(WebGuard.cookieName)=\(id); Path=/; HttpOnly; SameSite=Strict"
        return response
    }

    func logout(_ request: Request, _ context: WebContext) async throws -> Response {
        _ = try await form(request, context)
        if let id = context.sessionID { app.sessions.end(id: id) }
        var response = redirect("/welcome")
        response.headers[.setCookie] = "\(WebGuard.cookieName)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
        return response
    }

    // MARK: Reading

    /// The newest posts, a page at a time (`?before=ID` for older ones),
    /// only a friend's or mine with `?author=NAME` (`me`), only those to an
    /// audience with `?audience=NAME`: the same query as `kith feed`, never
    /// more than a page; an unknown name is the node's error. The posts
    /// shown count as read, except for `?live=1`, the script's fetch when a
    /// friend's post arrives: the tab may be in the background, and the
    /// owner has seen nothing yet.
    func feed(_ request: Request, _ context: WebContext) async throws -> Response {
        let session = try signedIn(context)
        let query = request.uri.queryParameters
        let before = query.get("before")
        if let before { try checkID(before) }
        let live = query.get("live")
        guard live == nil || live == "1" else { throw HTTPError(.badRequest, message: "live= takes only 1.") }
        let notice = try deletedNotice(request)
        let eventsPath = liveEvents()
        let filter = FeedFilter(author: try filterName(query.get("author")), audience: try filterName(query.get("audience")))
        let page = try await node.feed(FeedQuery(limit: FeedQuery.defaultLimit, before: before.map { .post($0) },
                                                 author: filter.author, audience: filter.audience, keepUnread: live != nil))
        let friends = try await node.friends()
        let me = try await node.me()
        var view = FeedPageView(csrf: session.csrf, liveEvents: eventsPath, audiences: try await node.audiences(), friends: friends,
                                page: page, older: before != nil, me: me.name,
                                here: before.map { "/?before=\($0)" + filter.query } ?? filter.path, filter: filter,
                                avatars: await avatars(of: page.posts.map(\.author), friends: friends))
        view.onboarding = friends.isEmpty ? Onboarding(try await node.status()) : nil
        view.notice = notice
        return templates.response(view)
    }

    func show(_ request: Request, _ context: WebContext) async throws -> Response {
        let session = try signedIn(context)
        let id = context.parameters.get("id") ?? ""
        try checkID(id)
        let notice = try deletedNotice(request)
        let eventsPath = liveEvents()
        let item = try await node.show(post: id)
        let friends = try await node.friends()
        let profiles = Profiles(friends, avatars: await avatars(of: [item.author], friends: friends))
        let post = PostView(item, profiles: profiles, inFeed: false, me: try await node.me().name, here: "/posts/\(item.id)")
        return templates.response(PostPageView(csrf: session.csrf, liveEvents: eventsPath, post: post, notice: notice))
    }

    // MARK: Acting

    func post(_ request: Request, _ context: WebContext) async throws -> Response {
        if let boundary = MultipartUpload.boundary(of: request.headers[.contentType]) { return try await postWithPhotos(request, context, boundary: boundary) }
        let form = try await form(request, context)
        guard let audience = form.audience, !audience.isEmpty else { throw badInput("Choose who can read the post.", back: "/", context) }
        let text = try self.text(form, what: "post", back: "/", context)
        _ = try await node.post(to: audience, text: text)
        return redirect("/")
    }

    func comment(_ request: Request, _ context: WebContext) async throws -> Response {
        let form = try await form(request, context)
        let id = context.parameters.get("id") ?? ""
        try checkID(id)
        let text = try self.text(form, what: "comment", back: "/posts/\(id)", context)
        _ = try await node.comment(on: id, text: text)
        return redirect("/posts/\(id)")
    }

    // MARK: Live updates

    /// Server-sent events: `event: feed` whenever a friend's post, comment,
    /// reaction, edit or delete arrives, and a comment line every 30 seconds to keep the
    /// connection open. Ends when the daemon stops. Each event's id is the
    /// count of changes it tells of (`WebEvents.mark`). The stream starts
    /// with an event if the feed changed since the count it is given: the
    /// id of the last event it had (`Last-Event-ID`, sent by a browser
    /// reconnecting) or else the page's (`?since=N`, `liveEvents`).
    func events(_ request: Request) throws -> Response {
        let given = request.headers[Self.lastEventID] ?? request.uri.queryParameters.get("since")
        let since = try given.map { text in
            guard let mark = Int(text), mark >= 0 else { throw HTTPError(.badRequest, message: "since= and Last-Event-ID take the number a page gave.") }
            return mark
        }
        guard let stream = app.events.subscribe(since: since) else { throw HTTPError(.serviceUnavailable, message: "Too many pages are open for live updates.") }
        let body = ResponseBody { writer in
            let (lines, sink) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(4))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in stream { sink.yield("id: \(app.events.mark)\nevent: feed\ndata: changed\n\n") }
                    sink.finish()
                }
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .seconds(30))
                        sink.yield(": still here\n\n")
                    }
                }
                try await withGracefulShutdownHandler {
                    try await writer.write(ByteBuffer(string: "retry: 5000\n\n"))
                    for await line in lines { try await writer.write(ByteBuffer(string: line)) }
                } onGracefulShutdown: {
                    sink.finish()
                }
                group.cancelAll()
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    static let lastEventID = HTTPField.Name("Last-Event-ID")!

    // MARK: Helpers

    /// The address of the live-update stream for a page about to read the
    /// node: read first, so that a change made while the page is made
    /// counts as new when its stream opens (`WebEvents`).
    func liveEvents() -> String { "/events?since=\(app.events.mark)" }

    struct Form: WebForm {
        init() {}
        var csrf: String?
        var text: String?
        var audience: String?
        /// A reaction to add; or, in `remove`, mine to take back.
        var emoji: String?
        var remove: String?
        /// The page to come back to (`returnPath`).
        var back: String?
    }

    func form(_ request: Request, _ context: WebContext) async throws -> Form { try await form(request, context, as: Form.self) }

    /// A POST's form, once its CSRF token proved it came from one of this session's pages.
    func form<F: WebForm>(_ request: Request, _ context: WebContext, as: F.Type) async throws -> F {
        let session = try signedIn(context)
        var request = request
        let body = try await request.collectBody(upTo: WebApp.maxForm)
        var form = F()
        if body.readableBytes > 0 {
            do { form = try URLEncodedFormDecoder().decode(F.self, from: String(buffer: body)) } catch {
                throw HTTPError(.badRequest, message: "The form could not be read.")
            }
        }
        guard WebSessions.csrfMatches(form.csrf, session) else {
            throw HTTPError(.forbidden, message: "This form is not from a page of this session (its CSRF token is missing or wrong). "
                            + "Nothing was changed: go back, reload the page and try again.")
        }
        return form
    }

    func text(_ form: Form, what: String, back: String, _ context: WebContext) throws -> String {
        let text = (form.text ?? "").replacingOccurrences(of: "\r\n", with: "\n")
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw badInput("The \(what) is empty: write something first.", back: back, context) }
        return text
    }

    func signedIn(_ context: WebContext) throws -> WebSessions.Session {
        guard let session = context.session else { throw HTTPError(.forbidden, message: "Sign in first: run `kith open`.") }
        return session
    }

    /// A filter's name from the feed's query: none when empty (the form's "everyone").
    func filterName(_ name: String?) throws -> String? {
        guard let name, !name.isEmpty else { return nil }
        guard name.utf8.count <= 256 else { throw HTTPError(.badRequest, message: "This name is too long to be a friend's or an audience's.") }
        return name
    }

    /// A post's id as pages use it: 8 to 64 lower-case hex digits.
    func checkID(_ id: String) throws {
        guard (8...64).contains(id.utf8.count), id.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw HTTPError(.badRequest, message: "This address does not name a post: a post's id is 8 to 64 hex digits.")
        }
    }

    func badInput(_ message: String, back: String, _ context: WebContext) -> BadInput {
        BadInput(page: MessagePage(title: "Not done", message: message, back: back, csrf: context.session?.csrf))
    }

    func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "max-age=300"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// A page's form: the CSRF token, and fields that may each be missing.
protocol WebForm: Decodable {
    init()
    var csrf: String? { get }
}

/// Bad input in a form: answered 400 with a page that says what is wrong.
struct BadInput: Error {
    let page: MessagePage
}

func redirect(_ path: String) -> Response {
    Response(status: .seeOther, headers: [.location: path])
}
