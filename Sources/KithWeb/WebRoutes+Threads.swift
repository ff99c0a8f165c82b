import Foundation
import Hummingbird
import KithNode

/// Reacting to a post, editing my posts and comments, and deleting them
/// (and comments on my posts), each as `kith react`, `kith edit` and
/// `kith delete` do it. A delete is explained before it is made.
extension WebRoutes {
    func addThreadRoutes(to router: Router<WebContext>) {
        router.post("/posts/:id/react") { request, context in try await react(request, context) }
        for item in ["/posts/:id", "/posts/:id/comments/:comment"] {
            router.get("\(item)/edit") { _, context in try await editPage(context) }
            router.post("\(item)/edit") { request, context in try await edit(request, context) }
            router.get("\(item)/delete") { _, context in try await confirmDeletion(context) }
            router.post("\(item)/delete") { request, context in try await delete(request, context) }
        }
    }

    /// Adds my reaction, replaces it, or (`remove`) takes it back; then back to the page the form was on.
    func react(_ request: Request, _ context: WebContext) async throws -> Response {
        let form = try await form(request, context)
        let id = context.parameters.get("id") ?? ""
        try checkID(id)
        let back = try returnPath(form.back, context)
        if form.remove != nil {
            _ = try await node.react(to: id, with: nil)
        } else {
            guard let emoji = form.emoji, !emoji.isEmpty else { throw badInput("Choose a reaction.", back: back, context) }
            _ = try await node.react(to: id, with: emoji)
        }
        return redirect(back + "#post-" + id)
    }

    func editPage(_ context: WebContext) async throws -> Response {
        let session = try signedIn(context)
        let target = try await target(context)
        try mustBeMine(target, context)
        return templates.response(EditPageView(csrf: session.csrf, target: target))
    }

    func edit(_ request: Request, _ context: WebContext) async throws -> Response {
        let form = try await form(request, context)
        let target = try await target(context)
        try mustBeMine(target, context)
        let text = try self.text(form, what: "new text", back: target.path + "/edit", context)
        _ = try await node.edit(target.id, text: text)
        return redirect(target.postPath + "#" + target.anchor)
    }

    func confirmDeletion(_ context: WebContext) async throws -> Response {
        let session = try signedIn(context)
        let target = try await target(context)
        try mayDelete(target, context)
        let fingerprint = target.mine ? target.me.fingerprint
            : try await node.friends().first { $0.name.utf8.elementsEqual(target.author.utf8) }?.fingerprint
        return templates.response(DeletionView(csrf: session.csrf, target: target, fingerprint: fingerprint))
    }

    func delete(_ request: Request, _ context: WebContext) async throws -> Response {
        _ = try await form(request, context)
        let target = try await target(context)
        try mayDelete(target, context)
        _ = try await node.delete(target.id)
        return redirect(target.comment == nil ? "/?deleted=post" : target.postPath + "?deleted=comment")
    }

    /// The post or comment the address names (`/posts/ID`, `/posts/ID/comments/ID`), as the node shows it to me.
    func target(_ context: WebContext) async throws -> ThreadTarget {
        let id = context.parameters.get("id") ?? ""
        try checkID(id)
        let post = try await node.show(post: id)
        let me = try await node.me()
        guard let commentID = context.parameters.get("comment") else { return ThreadTarget(post: post, comment: nil, me: me) }
        try checkID(commentID)
        guard let comment = post.comments.first(where: { $0.id == commentID }) else {
            throw badInput("This post has no comment \(commentID): it may have been deleted.", back: "/posts/\(post.id)", context)
        }
        return ThreadTarget(post: post, comment: comment, me: me)
    }

    func mustBeMine(_ target: ThreadTarget, _ context: WebContext) throws {
        guard target.mine else {
            throw badInput("You can edit only your own posts and comments: this \(target.what) is \(target.author)’s.", back: target.postPath, context)
        }
    }

    func mayDelete(_ target: ThreadTarget, _ context: WebContext) throws {
        guard target.mine || (target.comment != nil && [target.me.name].containsName(target.post.author)) else {
            throw badInput("You can delete only your own posts and comments, and comments on your posts: this \(target.what) is \(target.author)’s.",
                           back: target.postPath, context)
        }
    }

    /// A form's page to come back to: a path of this app, never another
    /// site's address (`//host` or `/\host` would be one, to a browser),
    /// in printable ASCII without a fragment. The feed when none is given.
    func returnPath(_ back: String?, _ context: WebContext) throws -> String {
        guard let back else { return "/" }
        let bytes = Array(back.utf8)
        guard (1...1024).contains(bytes.count), bytes[0] == UInt8(ascii: "/"), bytes.dropFirst().first != UInt8(ascii: "/"),
              bytes.allSatisfy({ (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "\\") && $0 != UInt8(ascii: "#") }) else {
            throw badInput("The page to go back to is not a page of this app. Nothing was changed.", back: "/", context)
        }
        return back
    }

    /// The notice after a delete: `?deleted=post` or `?deleted=comment`.
    func deletedNotice(_ request: Request) throws -> String? {
        guard let what = request.uri.queryParameters.get("deleted") else { return nil }
        guard what == "post" || what == "comment" else { throw HTTPError(.badRequest, message: "deleted= takes only post or comment.") }
        return "The \(what) is deleted here. Friends’ nodes erase it when the delete reaches them; "
            + "what someone already copied elsewhere stays there."
    }
}

/// A post, or a comment on it, that a page acts on.
struct ThreadTarget {
    let post: FeedItem
    let comment: FeedComment?
    let me: WebMe

    var id: String { comment?.id ?? post.id }
    var author: String { comment?.author ?? post.author }
    var text: String { comment?.text ?? post.text }
    var what: String { comment == nil ? "post" : "comment" }
    var mine: Bool { [me.name].containsName(author) }
    var postPath: String { "/posts/\(post.id)" }
    /// This item's address, before `/edit` or `/delete`.
    var path: String { postPath + (comment.map { "/comments/\($0.id)" } ?? "") }
    /// Its element on the post's page.
    var anchor: String { comment.map { "comment-\($0.id)" } ?? "post-\(post.id)" }
}
