import Foundation
import Hummingbird
import KithNode

/// Direct messages: the friends to write to, and a conversation with one
/// of them, as `kith chat` shows it, with a form that sends as `kith dm`.
extension WebRoutes {
    func addMessageRoutes(to router: Router<WebContext>) {
        router.get("/messages") { _, context in
            let session = try signedIn(context)
            return templates.response(MessagesPageView(csrf: session.csrf, friends: try await node.friends()))
        }
        router.get("/chat") { request, context in try await chat(request, context) }
        router.post("/chat") { request, context in try await sendDirect(request, context) }
    }

    /// The newest messages a conversation page shows, as `kith chat` does by default.
    static let chatLimit = 100

    func chat(_ request: Request, _ context: WebContext) async throws -> Response {
        let session = try signedIn(context)
        let friend = try friendName(request.uri.queryParameters.get("friend"), context)
        // `live=1`: the page's script refreshing it while it is open, maybe unseen: nothing is marked read.
        let live = request.uri.queryParameters.get("live") == "1"
        let eventsPath = liveEvents()
        let messages = try await node.chat(with: friend, limit: Self.chatLimit, markRead: !live)
        return templates.response(ConversationPageView(csrf: session.csrf, liveEvents: eventsPath, friend: friend, messages: messages))
    }

    func sendDirect(_ request: Request, _ context: WebContext) async throws -> Response {
        let form = try await form(request, context, as: PeopleForm.self)
        let friend = try friendName(form.friend, context)
        let text = (form.text ?? "").replacingOccurrences(of: "\r\n", with: "\n")
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw badInput("The message is empty: write something first.", back: ConversationPageView.path(friend), context)
        }
        _ = try await node.sendDirect(to: friend, text: text)
        return redirect(ConversationPageView.path(friend) + "#write")
    }
}
