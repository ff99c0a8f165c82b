import Foundation
import HTTPTypes
import Hummingbird
import KithNode
import Logging

/// The checks before any route, and the headers on every answer.
///
/// 1. The `Host` header must be the app's own, `NAME.localhost:PORT`
///    (`WebHostName`), and nothing else: a web page whose domain resolves
///    to 127.0.0.1 (DNS rebinding) sends its own name, and a program that
///    stole the cookie and asks `127.0.0.1:PORT` its address; both get 421.
/// 2. A POST's `Origin`, when the browser sends one, must be this app's
///    (`http://NAME.localhost:PORT`): a form on another site gets 403 (the
///    session cookie is SameSite=Strict and every form carries a CSRF
///    token as well).
/// 3. Every page but the login, the welcome page and the assets needs a
///    session; without one a page is redirected to `/welcome`.
///
/// Every answer carries a strict Content-Security-Policy (only this app's
/// own script, style sheet and images, and the composer's previews of
/// photos not yet sent as blob: URLs; no inline script), `nosniff`, no
/// referrer, and pages are not stored.
struct WebGuard: RouterMiddleware {
    typealias Context = WebContext
    let sessions: WebSessions
    let listener: WebListener
    let templates: Templates

    static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        + "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    static let cookieName = "kith_session"
    static let host = HTTPField.Name("Host")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let frameOptions = HTTPField.Name("X-Frame-Options")!
    /// Paths served without a session.
    static let open: Set<String> = ["/login", "/welcome", "/static/kith.css", "/static/kith.js"]

    func handle(_ request: Request, context: WebContext, next: (Request, WebContext) async throws -> Response) async throws -> Response {
        var response = await answer(request, context: context, next: next)
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[Self.referrerPolicy] = "same-origin"
        response.headers[Self.frameOptions] = "DENY"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }

    private func answer(_ request: Request, context: WebContext, next: (Request, WebContext) async throws -> Response) async -> Response {
        // The first Host header is the authority; a second one stays among the headers, and is refused too.
        guard let expected = listener.host, let host = request.head.authority, host.lowercased() == expected,
              request.headers[Self.host] == nil else {
            return Response(status: .misdirectedRequest, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "This is Kith's web app, served only at the address `kith open` prints.\n")))
        }
        if request.method == .post, let origin = request.headers[.origin], origin.lowercased() != "http://" + expected {
            return page(MessagePage(title: "Refused", message: "This form came from another site, and only Kith's own pages may act for you."),
                        status: .forbidden)
        }
        var context = context
        if let id = request.cookies[Self.cookieName]?.value, let session = sessions.session(id: id) {
            context.session = session
            context.sessionID = id
        } else if !Self.open.contains(request.uri.path) {
            if request.method == .get { return redirect("/welcome") }
            return page(Self.signedOut, status: .forbidden)
        }
        do {
            return try await next(request, context)
        } catch let bad as BadInput {
            return page(bad.page, status: .badRequest)
        } catch let error as NodeError {
            // What the node refused (an unknown audience or post, a text too long), as `kith` would say it.
            return page(MessagePage(title: "Not done", message: error.description, hint: error.hint, back: "/", csrf: context.session?.csrf),
                        status: .badRequest)
        } catch let error as HTTPError {
            let message = error.status == .notFound ? "There is no such page." : error.body ?? "The request could not be served."
            return page(MessagePage(title: error.status.reasonPhrase, message: message, back: "/", csrf: context.session?.csrf), status: error.status)
        } catch {
            context.logger.error("web request failed", metadata: ["error": "\(error)"])
            return page(MessagePage(title: "Something went wrong", message: "The page could not be made; the daemon's log says why.",
                                    back: "/", csrf: context.session?.csrf), status: .internalServerError)
        }
    }

    static let signedOut = MessagePage(
        title: "Sign in with kith open",
        message: "This is your Kith node's web app. Only you can use it: run `kith open` in a terminal (with --home, if you use one) "
            + "and follow the link it prints. Each link signs in one browser once, within two minutes.")

    func page(_ page: some Page, status: HTTPResponse.Status) -> Response { templates.response(page, status: status) }
}
