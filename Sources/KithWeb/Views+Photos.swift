import Foundation
import KithImage
import KithNode

/// A photo of a post or comment, as its thumbnail linking to the whole photo.
struct PhotoView {
    let number: Int
    let full: String
    let thumbnail: String
    /// The thumbnail's size (it fits in 480 pixels a side), so the page does not move as it loads.
    let width: Int
    let height: Int
    let alt: String
    /// Whether the thumbnail is on this machine; if not, a placeholder links to the photo, fetched when asked for.
    let here: Bool
    /// Why the photo was refused, if it was.
    let damaged: String?

    /// The photos among a post's or comment's attachments, numbered as `kith photo get` numbers them.
    static func list(_ attachments: [FeedAttachment], of id: String, by author: String) -> [PhotoView] {
        attachments.enumerated().compactMap { index, attachment in
            attachment.kind == "photo" ? PhotoView(attachment, item: id, number: index + 1, author: author) : nil
        }
    }

    init(_ attachment: FeedAttachment, item: String, number: Int, author: String) {
        self.number = number
        full = "/posts/\(item)/photos/\(number)"
        thumbnail = full + "/thumbnail"
        let side = max(attachment.width, attachment.height, 1)
        let scale = min(1, Double(Photo.thumbnailSide) / Double(side))
        width = max(1, Int((Double(attachment.width) * scale).rounded()))
        height = max(1, Int((Double(attachment.height) * scale).rounded()))
        alt = "Photo \(number) by \(author)"
        here = attachment.thumbnailFetched && attachment.damaged == nil
        damaged = attachment.damaged
    }
}

struct ProfilePageView: Page {
    static let template = "profile"
    let title: String
    let csrf: String
    let signedIn = true
    /// My name for the friend; nil on my own profile page, which has the form.
    let friend: String?
    let mine: Bool
    /// The friend's page (safety number), for a friend's profile.
    let friendPage: String?
    let fingerprint: String?
    let hasProfile: Bool
    let name: String
    let bio: String
    let avatar: String?
    let avatarWidth: Int
    let avatarHeight: Int

    init(csrf: String, friend: String?, fingerprint: String?, profile: ProfileView?) {
        self.csrf = csrf
        self.friend = friend
        mine = friend == nil
        friendPage = friend.map(FriendPageView.path)
        title = friend.map { "\($0)'s profile" } ?? "Your profile"
        self.fingerprint = fingerprint
        hasProfile = profile != nil
        name = profile?.name ?? ""
        bio = profile?.bio ?? ""
        avatar = profile.flatMap { WebRoutes.avatarPath($0, mine: friend == nil) }
        avatarWidth = profile?.avatar?.width ?? 0
        avatarHeight = profile?.avatar?.height ?? 0
    }
}

extension WebRoutes {
    /// The avatars of these authors who have one, as paths of this app, by
    /// author; a profile that cannot be read shows none. An author who is
    /// no friend is me (a friend is never named as I am), or a former friend
    /// (`unknown (...)`), who has none.
    func avatars(of authors: [String], friends: [Friend]) async -> [String: String] {
        var avatars: [String: String] = [:]
        for author in Set(authors) where !author.hasPrefix("unknown (") {
            let me = !friends.map(\.name).containsName(author)
            guard let profile = try? await node.profile(of: me ? nil : author) else { continue }
            avatars[author] = Self.avatarPath(profile, mine: me)
        }
        return avatars
    }
}
