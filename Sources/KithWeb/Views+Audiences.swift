import Foundation
import KithNode

struct AudiencesPageView: Page {
    static let template = "audiences"
    let title = "Audiences"
    let csrf: String
    let signedIn = true
    let audiences: [Row]
    let hasAudiences: Bool

    struct Row {
        let name: String
        let path: String
        let members: String
    }

    init(csrf: String, audiences: [Audience]) {
        self.csrf = csrf
        self.audiences = audiences.map {
            Row(name: $0.name, path: AudiencePageView.path($0.name),
                members: $0.members.isEmpty ? "no one yet: only you" : "you and " + $0.members.joined(separator: ", "))
        }
        hasAudiences = !audiences.isEmpty
    }
}

struct AudiencePageView: Page {
    static let template = "audience"
    let title: String
    let csrf: String
    let signedIn = true
    let name: String
    let members: [Member]
    let hasMembers: Bool
    /// Friends not in it, who may be added.
    let others: [Member]
    let hasOthers: Bool

    struct Member {
        let name: String
        let number: Int
        let removePath: String
    }

    init(csrf: String, audience: Audience, friends: [Friend]) {
        self.csrf = csrf
        (title, name) = (audience.name, audience.name)
        members = audience.members.enumerated().map {
            Member(name: $1, number: $0 + 1,
                   removePath: "/audience/remove?name=" + FriendPageView.query(audience.name) + "&friend=" + FriendPageView.query($1))
        }
        hasMembers = !members.isEmpty
        others = friends.map(\.name).filter { !audience.members.containsName($0) }.enumerated().map { Member(name: $1, number: $0 + 1, removePath: "") }
        hasOthers = !others.isEmpty
    }

    static func path(_ name: String) -> String { "/audience?name=" + FriendPageView.query(name) }
}

struct MemberRemovalView: Page {
    static let template = "audience-remove"
    let title = "Remove a member"
    let csrf: String
    let signedIn = true
    let audience: String
    let friend: String
    /// Nil for a member who is no longer a friend.
    let fingerprint: String?
    let back: String

    init(csrf: String, audience: String, friend: String, fingerprint: String?) {
        (self.csrf, self.audience, self.friend, self.fingerprint) = (csrf, audience, friend, fingerprint)
        back = AudiencePageView.path(audience)
    }
}
