import KithNode

/// What the web app asks of the node. The daemon answers each call by
/// running the same `NodeCommand` the command line sends it (`kith feed`,
/// `kith post`, ...), so a page and a command always agree.
public protocol WebNode: Sendable {
    func feed(_ query: FeedQuery) async throws -> FeedPage
    func show(post: String) async throws -> FeedItem
    func audiences() async throws -> [Audience]
    func friends() async throws -> [Friend]
    func post(to audience: String, text: String) async throws -> Node.Posted
    func comment(on post: String, text: String) async throws -> Node.ThreadChange
}
