import Foundation
import KithNode
import KithProtocol

struct MessagePage: Page {
    static let template = "message"
    let title: String
    let message: String
    let hint: String?
    /// A path of this app to go back to.
    let back: String?
    /// A path of this app the page moves on to by itself (a meta refresh, and a link).
    let next: String?
    let csrf: String?
    let signedIn: Bool

    init(title: String, message: String, hint: String? = nil, back: String? = nil, next: String? = nil, csrf: String? = nil) {
        (self.title, self.message, self.hint, self.back, self.next, self.csrf) = (title, message, hint, back, next, csrf)
        signedIn = csrf != nil
    }
}

struct FeedPageView: Page {
    static let template = "feed"
    let title = "Feed"
    let csrf: String
    let signedIn = true
    let audiences: [AudienceChoice]
    let hasAudiences: Bool
    let maxPhotos = Attachment.maxCount
    let posts: [PostView]
    /// Whether this is a page past the first.
    let older: Bool
    let hasMore: Bool
    let more: Int
    let nextBefore: String
    /// The first steps, for a node without friends yet.
    var onboarding: Onboarding?

    init(csrf: String, audiences: [Audience], friends: [Friend], page: FeedPage, older: Bool, avatars: [String: String] = [:]) {
        self.csrf = csrf
        let profiles = Profiles(friends, avatars: avatars)
        self.audiences = audiences.enumerated().map { index, audience in
            AudienceChoice(number: index + 1, name: audience.name, first: index == 0,
                           readers: audience.members.isEmpty ? "(no one yet: only you)"
                               : "(you and " + audience.members.map(profiles.label).joined(separator: ", ") + ")")
        }
        hasAudiences = !audiences.isEmpty
        posts = page.posts.map { PostView($0, profiles: profiles, inFeed: true) }
        self.older = older
        hasMore = page.nextBefore != nil
        more = page.more
        nextBefore = page.nextBefore ?? ""
    }
}

struct AudienceChoice {
    let number: Int
    let name: String
    let first: Bool
    /// Who reads a post to it.
    let readers: String
}

struct PostPageView: Page {
    static let template = "post"
    let title = "Post"
    let csrf: String
    let signedIn = true
    let post: PostView
}

struct PostView {
    let id: String
    let author: String
    /// The name the author gave themselves in their profile, when it differs from mine for them.
    let profileName: String?
    let verified: Bool
    let audience: String
    let audienceSize: Int?
    let createdAt: String
    let when: String
    let edited: Bool
    let unread: Bool
    let text: String
    let reactions: [ReactionView]
    let hasReactions: Bool
    /// The author's avatar, as a path of this app.
    let avatar: String?
    let photos: [PhotoView]
    let hasPhotos: Bool
    /// Attachments that are not photos, for `kith photo get`.
    let fileCount: Int
    let hasFiles: Bool
    let comments: [CommentView]
    let commentCount: Int
    let commentWord: String
    let inFeed: Bool

    init(_ item: FeedItem, profiles: Profiles, inFeed: Bool) {
        id = item.id
        author = item.author
        profileName = profiles.profileName(of: item.author)
        verified = item.verified
        audience = item.direct ? "you and " + (item.directWith ?? "?") + " (direct)" : item.audience
        audienceSize = item.direct ? nil : item.audienceSize
        createdAt = item.createdAt
        when = Self.when(item.createdAt)
        edited = item.edited
        unread = item.unread
        text = item.text
        reactions = item.reactions.map { ReactionView(emoji: $0.emoji, count: $0.count, by: $0.by.joined(separator: ", ")) }
        hasReactions = !item.reactions.isEmpty
        avatar = profiles.avatar(of: item.author)
        photos = PhotoView.list(item.attachments, of: item.id, by: item.author)
        hasPhotos = !photos.isEmpty
        fileCount = item.attachments.count - photos.count
        hasFiles = fileCount > 0
        comments = item.comments.map(CommentView.init)
        commentCount = item.comments.count + item.moreComments
        commentWord = commentCount == 1 ? "comment" : "comments"
        self.inFeed = inFeed
    }

    /// `2026-11-26T10:41:07Z` as `2026-11-26 10:41 UTC`.
    static func when(_ iso: String) -> String {
        guard iso.count >= 16 else { return iso }
        return iso.prefix(10) + " " + iso.dropFirst(11).prefix(5) + " UTC"
    }
}

struct CommentView {
    let id: String
    let author: String
    let verified: Bool
    let createdAt: String
    let when: String
    let edited: Bool
    let text: String
    let photos: [PhotoView]
    let hasPhotos: Bool

    init(_ comment: FeedComment) {
        (id, author, verified, createdAt, edited, text) = (comment.id, comment.author, comment.verified, comment.createdAt, comment.edited, comment.text)
        when = PostView.when(comment.createdAt)
        photos = PhotoView.list(comment.attachments, of: comment.id, by: comment.author)
        hasPhotos = !photos.isEmpty
    }
}

struct ReactionView {
    let emoji: String
    let count: Int
    let by: String
}

/// Friends' own names for themselves, by my name for them, and the avatars of those who have one.
struct Profiles {
    private let names: [String: String]
    private let avatars: [String: String]

    init(_ friends: [Friend], avatars: [String: String] = [:]) {
        var names: [String: String] = [:]
        for friend in friends { if let profile = friend.profileName, profile != friend.name { names[friend.name] = profile } }
        self.names = names
        self.avatars = avatars
    }

    /// The path of an author's avatar (the author as the feed names them), if they have one.
    func avatar(of author: String) -> String? { avatars[author] }

    func profileName(of friend: String) -> String? { names[friend] }

    /// `bob`, or `bob (Robert)` when bob calls himself Robert.
    func label(_ friend: String) -> String { names[friend].map { "\(friend) (\($0))" } ?? friend }
}

extension Sequence<String> {
    /// Whether `name` is among these names byte for byte, as the node
    /// matches names: Swift's `==` takes a composed and a decomposed accent
    /// as equal, which would make two friends' names one.
    func containsName(_ name: String) -> Bool { contains { $0.utf8.elementsEqual(name.utf8) } }
}
