import Foundation
import Hummingbird
import KithNode

/// Audiences: mine with their members, creating one, adding and removing
/// members, each change explained before it is made as `kith group` says it.
extension WebRoutes {
    func addAudienceRoutes(to router: Router<WebContext>) {
        router.get("/audiences") { _, context in
            let session = try signedIn(context)
            return templates.response(AudiencesPageView(csrf: session.csrf, audiences: try await node.audiences()))
        }
        router.post("/audiences") { request, context in try await createAudience(request, context) }
        router.get("/audience") { request, context in try await audience(request, context) }
        router.post("/audience/add") { request, context in try await changeMember(request, context, add: true) }
        router.get("/audience/remove") { request, context in try await confirmMemberRemoval(request, context) }
        router.post("/audience/remove") { request, context in try await changeMember(request, context, add: false) }
    }

    func createAudience(_ request: Request, _ context: WebContext) async throws -> Response {
        let form = try await form(request, context, as: PeopleForm.self)
        let name = try audienceName(form.audience, back: "/audiences", context)
        guard let share = ["yes": true, "no": false][form.share ?? ""] else {
            throw badInput("Say whether its members can see who else is in it.", back: "/audiences", context)
        }
        try await node.createAudience(name, shareMembers: share)
        return redirect(AudiencePageView.path(name))
    }

    func audience(_ request: Request, _ context: WebContext) async throws -> Response {
        let session = try signedIn(context)
        let audience = try await mine(request.uri.queryParameters.get("name"), context)
        return templates.response(AudiencePageView(csrf: session.csrf, audience: audience, friends: try await node.friends()))
    }

    func confirmMemberRemoval(_ request: Request, _ context: WebContext) async throws -> Response {
        let session = try signedIn(context)
        let audience = try await mine(request.uri.queryParameters.get("name"), context)
        let friend = try friendName(request.uri.queryParameters.get("friend"), context)
        guard audience.members.containsName(friend) else {
            throw badInput("\(friend) is not in “\(audience.name)”.", back: AudiencePageView.path(audience.name), context)
        }
        let fingerprint = try await node.friends().first { $0.name.utf8.elementsEqual(friend.utf8) }?.fingerprint
        return templates.response(MemberRemovalView(csrf: session.csrf, audience: audience.name, friend: friend, fingerprint: fingerprint))
    }

    func changeMember(_ request: Request, _ context: WebContext, add: Bool) async throws -> Response {
        let form = try await form(request, context, as: PeopleForm.self)
        let name = try audienceName(form.audience, back: "/audiences", context)
        let friend = try friendName(form.friend, context)
        _ = add ? try await node.addMember(audience: name, friend: friend) : try await node.removeMember(audience: name, friend: friend)
        return redirect(AudiencePageView.path(name))
    }

    /// One of my audiences, by the name a page gives.
    func mine(_ name: String?, _ context: WebContext) async throws -> Audience {
        let name = try audienceName(name, back: "/audiences", context)
        guard let audience = try await node.audiences().first(where: { $0.name.utf8.elementsEqual(name.utf8) }) else {
            throw badInput("You have no audience named “\(name)”.", back: "/audiences", context)
        }
        return audience
    }

    func audienceName(_ name: String?, back: String, _ context: WebContext) throws -> String {
        guard let name, !name.isEmpty, name.utf8.count <= 256 else { throw badInput("Name an audience.", back: back, context) }
        return name
    }
}
