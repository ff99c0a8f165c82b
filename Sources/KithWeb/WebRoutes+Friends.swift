import Foundation
import Hummingbird
import KithNode
import Synchronization

/// The friends pages: friends, friend requests, my invitation (as text and
/// as a QR code), adding a friend from a pasted invitation or card, a
/// friend's safety number and verified mark, and removing a friend. Each
/// runs on the node as the matching `kith invite` / `kith friend` command.
extension WebRoutes {
    func addFriendRoutes(to router: Router<WebContext>) {
        router.get("/friends") { _, context in try await friends(context) }
        router.post("/friends/invite") { request, context in try await invite(request, context) }
        router.post("/friends/add") { request, context in try await addFriend(request, context) }
        router.post("/friends/accept") { request, context in try await answerRequest(request, context, accept: true) }
        router.post("/friends/decline") { request, context in try await answerRequest(request, context, accept: false) }
        router.get("/friend") { request, context in try await friend(request, context) }
        router.post("/friend/verify") { request, context in try await verify(request, context) }
        router.get("/friend/remove") { request, context in try await confirmRemoval(request, context) }
        router.post("/friend/remove") { request, context in try await removeFriend(request, context) }
    }

    /// The fields of the people pages' forms.
    struct PeopleForm: WebForm {
        init() {}
        var csrf: String?
        /// A pasted card or invitation.
        var pasted: String?
        /// The name to know a new friend by.
        var name: String?
        /// A friend, by my name for them; or a request, by its fingerprint.
        var friend: String?
        /// An invitation's lifetime, one of `FriendsPageView.lifetimes`.
        var expires: String?
        /// `confirm` or `clear` (verifying).
        var mark: String?
        /// A direct message.
        var text: String?
        /// An audience, by its name.
        var audience: String?
        /// `yes` or `no`: whether an audience's members see who else is in it.
        var share: String?
    }

    func friends(_ context: WebContext) async throws -> Response {
        let session = try signedIn(context)
        return templates.response(FriendsPageView(csrf: session.csrf, friends: try await node.friends(), requests: try await node.friendRequests(),
                                                  invitation: app.invitation.current()))
    }

    func invite(_ request: Request, _ context: WebContext) async throws -> Response {
        let form = try await form(request, context, as: PeopleForm.self)
        guard let choice = FriendsPageView.lifetimes.first(where: { $0.value == form.expires }) else {
            throw badInput("Choose how long the invitation works: " + FriendsPageView.lifetimes.map(\.label).joined(separator: ", ") + ".",
                           back: "/friends", context)
        }
        app.invitation.set(try await node.invite(lifetime: choice.seconds))
        return redirect("/friends#invitation")
    }

    func addFriend(_ request: Request, _ context: WebContext) async throws -> Response {
        let form = try await form(request, context, as: PeopleForm.self)
        let pasted = form.pasted ?? ""
        guard !pasted.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw badInput("Paste an invitation (kith-invite:...) or a contact card (kith-card:...) first.", back: "/friends", context)
        }
        let name = form.name?.trimmingCharacters(in: .whitespaces)
        let added = try await node.addFriend(pasted: pasted, as: name?.isEmpty == false ? name : nil)
        return redirect(FriendPageView.path(added.friend.name))
    }

    func answerRequest(_ request: Request, _ context: WebContext, accept: Bool) async throws -> Response {
        let form = try await form(request, context, as: PeopleForm.self)
        guard let requester = form.friend, !requester.isEmpty else { throw badInput("Choose a friend request.", back: "/friends", context) }
        if accept { return redirect(FriendPageView.path(try await node.acceptFriend(requester: requester).friend.name)) }
        let done = try await node.declineFriend(requester: requester)
        guard done.failures.isEmpty else {
            return templates.response(MessagePage(
                title: "Not finished", message: "Could not revoke a token now (" + done.failures.joined(separator: "; ") + "): the request is kept.",
                hint: "Decline it again later.", back: "/friends", csrf: context.session?.csrf), status: .badGateway)
        }
        return redirect("/friends")
    }

    func friend(_ request: Request, _ context: WebContext) async throws -> Response {
        let session = try signedIn(context)
        let name = try friendName(request.uri.queryParameters.get("name"), context)
        let (friend, number) = try await node.safetyNumber(friend: name, mark: nil)
        return templates.response(FriendPageView(csrf: session.csrf, friend: friend, safetyNumber: number))
    }

    func verify(_ request: Request, _ context: WebContext) async throws -> Response {
        let form = try await form(request, context, as: PeopleForm.self)
        let name = try friendName(form.friend, context)
        guard let mark = ["confirm": true, "clear": false][form.mark ?? ""] else {
            throw badInput("Say whether the safety number matched.", back: FriendPageView.path(name), context)
        }
        _ = try await node.safetyNumber(friend: name, mark: mark)
        return redirect(FriendPageView.path(name))
    }

    func confirmRemoval(_ request: Request, _ context: WebContext) async throws -> Response {
        let session = try signedIn(context)
        let name = try friendName(request.uri.queryParameters.get("name"), context)
        let (friend, _) = try await node.safetyNumber(friend: name, mark: nil)
        let audiences = try await node.audiences().filter { $0.members.containsName(friend.name) }.map(\.name)
        return templates.response(FriendRemovalView(csrf: session.csrf, friend: friend.name, fingerprint: friend.fingerprint, audiences: audiences))
    }

    func removeFriend(_ request: Request, _ context: WebContext) async throws -> Response {
        let form = try await form(request, context, as: PeopleForm.self)
        let name = try friendName(form.friend, context)
        let done = try await node.removeFriend(name)
        guard done.failures.isEmpty else {
            return templates.response(MessagePage(
                title: "Not finished", message: "\(name) is no longer your friend, but a drop token could not be revoked now ("
                    + done.failures.joined(separator: "; ") + ").",
                hint: "Run `kith friend remove \(ShellWord.quoted(name))` later to finish revoking.", back: "/friends", csrf: context.session?.csrf),
                status: .badGateway)
        }
        return redirect("/friends")
    }

    /// A friend's name as a page or form gives it: present, and short enough to be one.
    func friendName(_ name: String?, _ context: WebContext) throws -> String {
        guard let name, !name.isEmpty, name.utf8.count <= 256 else { throw badInput("Name a friend.", back: "/friends", context) }
        return name
    }
}

/// The invitation made last on the friends page, kept in memory (a
/// daemon that restarts forgets it; the invitation itself still works)
/// and shown until it expires.
final class LatestInvitation: Sendable {
    private let latest = Mutex<IssuedInvitation?>(nil)

    func set(_ invitation: IssuedInvitation) { latest.withLock { $0 = invitation } }

    /// The invitation, if it has not expired (ISO 8601 UTC times compare as text).
    func current(now: Date = Date()) -> IssuedInvitation? {
        let stamp = ISO8601DateFormatter().string(from: now)
        return latest.withLock { latest in
            if let invitation = latest, invitation.expiresAt <= stamp { latest = nil }
            return latest
        }
    }
}
