import Foundation
import KithNode

struct FriendsPageView: Page {
    static let template = "friends"
    let title = "Friends"
    let csrf: String
    let signedIn = true
    let friends: [FriendRow]
    let requests: [RequestRow]
    let hasFriends: Bool
    let hasRequests: Bool
    let invitation: InvitationView?
    let lifetimes = Self.lifetimes

    struct Lifetime {
        let value: String
        let label: String
        let seconds: UInt64
        /// The command's default, 3 days.
        let chosen: Bool
    }

    /// How long an invitation may work: the choices of the page (`kith invite --expires`).
    static let lifetimes = [
        Lifetime(value: "1h", label: "1 hour", seconds: 3600, chosen: false),
        Lifetime(value: "1d", label: "1 day", seconds: 86_400, chosen: false),
        Lifetime(value: "3d", label: "3 days", seconds: 3 * 86_400, chosen: true),
        Lifetime(value: "7d", label: "7 days", seconds: 7 * 86_400, chosen: false),
    ]

    init(csrf: String, friends: [Friend], requests: [PendingFriendRequest], invitation: IssuedInvitation?) {
        self.csrf = csrf
        self.friends = friends.map(FriendRow.init)
        self.requests = requests.map(RequestRow.init)
        (hasFriends, hasRequests) = (!friends.isEmpty, !requests.isEmpty)
        self.invitation = invitation.map(InvitationView.init)
    }
}

struct FriendRow {
    let name: String
    let path: String
    /// The name as a query value.
    let query: String
    let profileName: String?
    let verified: Bool
    let fingerprint: String

    init(_ friend: Friend) {
        (name, verified, fingerprint) = (friend.name, friend.verified, friend.fingerprint)
        path = FriendPageView.path(friend.name)
        query = FriendPageView.query(friend.name)
        profileName = friend.profileName == friend.name ? nil : friend.profileName
    }
}

struct RequestRow {
    let name: String
    let fingerprint: String
    let safetyNumber: String
    let invitation: String
    let when: String

    init(_ request: PendingFriendRequest) {
        (name, fingerprint, safetyNumber, invitation) = (request.name, request.fingerprint, request.safetyNumber, request.invitation)
        when = PostView.when(request.receivedAt)
    }
}

struct InvitationView {
    let text: String
    let id: String
    let expiresAt: String
    let until: String
    let qr: QRView?

    init(_ invitation: IssuedInvitation) {
        (text, id, expiresAt) = (invitation.invitation, invitation.id, invitation.expiresAt)
        until = PostView.when(invitation.expiresAt)
        qr = QRCode(invitation.invitation).map(QRView.init)
    }
}

/// A QR code as an SVG of rects, with a quiet zone of 4 modules around it.
struct QRView {
    static let quiet = 4
    let side: Int
    let runs: [QRCode.Run]

    init(_ code: QRCode) {
        side = code.size + 2 * Self.quiet
        runs = code.runs.map { QRCode.Run(x: $0.x + Self.quiet, y: $0.y + Self.quiet, width: $0.width) }
    }
}

struct FriendPageView: Page {
    static let template = "friend"
    let title: String
    let csrf: String
    let signedIn = true
    let name: String
    let profileName: String?
    let cardName: String?
    let verified: Bool
    let fingerprint: String
    let relays: [String]
    let safetyNumber: String
    let removePath: String

    init(csrf: String, friend: Friend, safetyNumber: String) {
        self.csrf = csrf
        title = friend.name
        (name, verified, fingerprint, relays) = (friend.name, friend.verified, friend.fingerprint, friend.relays)
        profileName = friend.profileName == friend.name ? nil : friend.profileName
        cardName = friend.cardName == friend.name ? nil : friend.cardName
        self.safetyNumber = safetyNumber
        removePath = "/friend/remove?name=" + Self.query(friend.name)
    }

    /// The friend's page.
    static func path(_ name: String) -> String { "/friend?name=" + query(name) }

    private static let asciiAlphanumerics = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

    /// A name as a query value: everything but letters and digits percent-encoded.
    static func query(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: asciiAlphanumerics) ?? ""
    }
}

struct FriendRemovalView: Page {
    static let template = "friend-remove"
    let title = "Remove a friend"
    let csrf: String
    let signedIn = true
    let friend: String
    let fingerprint: String
    let back: String
    let audiences: String?

    init(csrf: String, friend: String, fingerprint: String, audiences: [String]) {
        (self.csrf, self.friend, self.fingerprint) = (csrf, friend, fingerprint)
        back = FriendPageView.path(friend)
        self.audiences = audiences.isEmpty ? nil : audiences.map { "“\($0)”" }.joined(separator: ", ")
    }
}
