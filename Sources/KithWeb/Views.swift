import Foundation
import KithNode
import KithProtocol
import Mustache

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
    /// The next page's and the first page's addresses, with the filters.
    let olderPath: String
    let newestPath: String
    let filters: FeedFilterView
    /// Where the list of posts hears of new ones (`WebRoutes.liveEvents`).
    let liveEvents: String
    /// The first steps, for a node without friends yet.
    var onboarding: Onboarding?

    /// What was just done, said once (`?deleted=post`).
    var notice: String?

    /// `here` is this page's path, for the forms on its posts to come back to.
    init(csrf: String, liveEvents: String, audiences: [Audience], friends: [Friend], page: FeedPage, older: Bool, me: String, here: String,
         filter: FeedFilter = FeedFilter(), avatars: [String: String] = [:]) {
        (self.csrf, self.liveEvents) = (csrf, liveEvents)
        let profiles = Profiles(friends, avatars: avatars)
        self.audiences = audiences.enumerated().map { index, audience in
            AudienceChoice(number: index + 1, name: audience.name, first: index == 0,
                           readers: audience.members.isEmpty ? "(no one yet: only you)"
                               : "(you and " + audience.members.map(profiles.label).joined(separator: ", ") + ")")
        }
        hasAudiences = !audiences.isEmpty
        posts = page.posts.map { PostView($0, profiles: profiles, inFeed: true, me: me, here: here) }
        self.older = older
        hasMore = page.nextBefore != nil
        more = page.more
        olderPath = "/?before=" + (page.nextBefore ?? "") + filter.query
        newestPath = filter.path
        filters = FeedFilterView(filter, audiences: audiences.map(\.name), friends: friends, profiles: profiles)
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
    /// Where the post hears of new comments and reactions (`WebRoutes.liveEvents`).
    let liveEvents: String
    let post: PostView
    var notice: String?
}

struct PostView {
    let id: String
    let author: String
    /// The name the author gave themselves in their profile, when it differs from mine for them.
    let profileName: String?
    let verified: Bool
    let audience: String
    /// The feed of this post's author, and of its audience (none for a direct message).
    let authorPath: String
    let audiencePath: String?
    let audienceSize: Int?
    let createdAt: String
    let when: String
    let edited: Bool
    let unread: Bool
    let text: String
    /// The reactions offered (`ReactionView.offered`) and any other that friends chose.
    let reactions: [ReactionView]
    /// False for a direct message, which takes no reactions.
    let canReact: Bool
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
    /// The page the item is shown on, for its forms to come back to.
    let here: String
    /// Whether I wrote it: I may edit and delete it.
    let mine: Bool

    /// `me` is my own name, as the feed shows me.
    init(_ item: FeedItem, profiles: Profiles, inFeed: Bool, me: String, here: String) {
        id = item.id
        author = item.author
        profileName = profiles.profileName(of: item.author)
        verified = item.verified
        audience = item.direct ? "you and " + (item.directWith ?? "?") + " (direct)" : item.audience
        authorPath = FeedFilter(author: profiles.isFriend(item.author) ? item.author : FeedQuery.me).path
        audiencePath = item.direct ? nil : FeedFilter(audience: item.audience).path
        audienceSize = item.direct ? nil : item.audienceSize
        createdAt = item.createdAt
        when = Self.when(item.createdAt)
        edited = item.edited
        unread = item.unread
        text = item.text
        reactions = ReactionView.choices(item.reactions, me: me)
        canReact = !item.direct
        avatar = profiles.avatar(of: item.author)
        photos = PhotoView.list(item.attachments, of: item.id, by: item.author)
        hasPhotos = !photos.isEmpty
        fileCount = item.attachments.count - photos.count
        hasFiles = fileCount > 0
        let mine = [me].containsName(item.author)
        self.mine = mine
        comments = item.comments.map { CommentView($0, post: item.id, onMyPost: mine, me: me) }
        commentCount = item.comments.count + item.moreComments
        commentWord = commentCount == 1 ? "comment" : "comments"
        self.inFeed = inFeed
        self.here = here
    }

    /// `2026-11-26T10:41:07Z` as `2026-11-26 10:41 UTC`.
    static func when(_ iso: String) -> String {
        guard iso.count >= 16 else { return iso }
        return iso.prefix(10) + " " + iso.dropFirst(11).prefix(5) + " UTC"
    }
}

struct CommentView {
    let id: String
    let post: String
    let author: String
    let verified: Bool
    let createdAt: String
    let when: String
    let edited: Bool
    let text: String
    /// Whether I wrote it: I may edit and delete it.
    let mine: Bool
    /// Whether I may delete it: mine, or on my post.
    let deletable: Bool
    let photos: [PhotoView]
    let hasPhotos: Bool

    init(_ comment: FeedComment, post: String, onMyPost: Bool, me: String) {
        (id, author, verified, createdAt, edited, text) = (comment.id, comment.author, comment.verified, comment.createdAt, comment.edited, comment.text)
        self.post = post
        when = PostView.when(comment.createdAt)
        mine = [me].containsName(comment.author)
        deletable = mine || onMyPost
        photos = PhotoView.list(comment.attachments, of: comment.id, by: comment.author)
        hasPhotos = !photos.isEmpty
    }
}

/// One reaction button: the emoji, how many chose it and who, and whether I did.
struct ReactionView {
    let emoji: String
    /// Nil when no one chose it.
    let count: Int?
    /// Who chose it, for the button's title.
    let by: String?
    let pressed: Bool

    /// The reactions every post offers.
    static let offered = ["👍", "❤️", "😂", "😮", "😢", "🙏"]

    /// The offered reactions, then any other emoji friends reacted with, each with its count.
    static func choices(_ reactions: [FeedReaction], me: String) -> [ReactionView] {
        let others = reactions.map(\.emoji).filter { !offered.containsName($0) }
        return (offered + others).map { emoji in
            let found = reactions.first { $0.emoji.utf8.elementsEqual(emoji.utf8) }
            return ReactionView(emoji: emoji, count: found?.count, by: found.map { $0.by.joined(separator: ", ") },
                                pressed: found?.by.containsName(me) ?? false)
        }
    }
}

/// Friends' own names for themselves, by my name for them, and the avatars of those who have one.
struct Profiles {
    private let names: [String: String]
    private let friends: [String]
    private let avatars: [String: String]

    init(_ friends: [Friend], avatars: [String: String] = [:]) {
        var names: [String: String] = [:]
        for friend in friends { if let profile = friend.profileName, profile != friend.name { names[friend.name] = profile } }
        self.names = names
        self.friends = friends.map(\.name)
        self.avatars = avatars
    }

    /// Whether a post's author is a friend (else it is me).
    func isFriend(_ name: String) -> Bool { friends.containsName(name) }

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

// The feed's items are looked up by name, not through `Mirror`: the
// template engine otherwise reflects over every field of each item, and of
// each item around it, for every value a template reads, which made most of
// a feed page's time.
extension PostView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "author": author
        case "profileName": profileName
        case "verified": verified
        case "audience": audience
        case "authorPath": authorPath
        case "audiencePath": audiencePath
        case "audienceSize": audienceSize
        case "createdAt": createdAt
        case "when": when
        case "edited": edited
        case "unread": unread
        case "text": text
        case "reactions": reactions
        case "canReact": canReact
        case "avatar": avatar
        case "photos": photos
        case "hasPhotos": hasPhotos
        case "fileCount": fileCount
        case "hasFiles": hasFiles
        case "comments": comments
        case "commentCount": commentCount
        case "commentWord": commentWord
        case "inFeed": inFeed
        case "here": here
        case "mine": mine
        default: nil
        }
    }
}

extension ReactionView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "emoji": emoji
        case "count": count
        case "by": by
        case "pressed": pressed
        default: nil
        }
    }
}

extension FeedPageView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "title": title
        case "csrf": csrf
        case "signedIn": signedIn
        case "audiences": audiences
        case "hasAudiences": hasAudiences
        case "maxPhotos": maxPhotos
        case "posts": posts
        case "older": older
        case "hasMore": hasMore
        case "more": more
        case "olderPath": olderPath
        case "newestPath": newestPath
        case "filters": filters
        case "liveEvents": liveEvents
        case "onboarding": onboarding
        case "notice": notice
        default: nil
        }
    }
}

extension PhotoView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "number": number
        case "full": full
        case "thumbnail": thumbnail
        case "width": width
        case "height": height
        case "alt": alt
        case "here": here
        case "damaged": damaged
        default: nil
        }
    }
}
