import Foundation
import KithNode

/// The feed's filters as its address gives them (`?author=NAME&audience=NAME`),
/// kept in the links to other pages of the same feed.
struct FeedFilter: Equatable {
    /// A friend's name, or `me`.
    var author: String?
    var audience: String?

    init(author: String? = nil, audience: String? = nil) { (self.author, self.audience) = (author, audience) }

    /// `&author=...&audience=...` (each when set), to add to a page's query.
    var query: String {
        [("author", author), ("audience", audience)].compactMap { key, value in value.map { "&\(key)=" + FriendPageView.query($0) } }.joined()
    }

    /// The first page of this feed.
    var path: String { query.isEmpty ? "/" : "/?" + query.dropFirst() }
}

/// The feed's filter form: a GET form of two selects, which works without the script.
struct FeedFilterView {
    let authors: [FilterChoice]
    let audiences: [FilterChoice]
    /// Whether a filter is set, and what it shows, e.g. "posts from bob to family".
    let filtered: Bool
    let summary: String

    init(_ filter: FeedFilter, audiences: [String], friends: [Friend], profiles: Profiles) {
        let authors = [("", "Everyone"), (FeedQuery.me, "You")] + friends.map { ($0.name, profiles.label($0.name)) }
        self.authors = authors.map { FilterChoice(value: $0.0, label: $0.1, selected: $0.0.utf8.elementsEqual((filter.author ?? "").utf8)) }
        // A friend's audience (reached from one of its posts) is a choice while it is the filter.
        var names = audiences
        if let audience = filter.audience, !names.containsName(audience) { names.append(audience) }
        self.audiences = [FilterChoice(value: "", label: "All audiences", selected: filter.audience == nil)]
            + names.map { FilterChoice(value: $0, label: $0, selected: $0.utf8.elementsEqual((filter.audience ?? "").utf8)) }
        filtered = filter != FeedFilter()
        let from = filter.author.map { $0 == FeedQuery.me ? " from you" : " from " + profiles.label($0) } ?? ""
        summary = "posts" + from + (filter.audience.map { " to " + $0 } ?? "")
    }
}

struct FilterChoice {
    let value: String
    let label: String
    let selected: Bool
}
