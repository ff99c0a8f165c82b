import KithNode
import KithWeb

/// The web app's view of the daemon's node: each call runs the
/// `NodeCommand` the command line would send, and a command that queues
/// deliveries wakes the sync, as on the control socket.
struct DaemonWebNode: WebNode {
    let node: Node
    let queued: @Sendable () -> Void

    private func run<C: NodeCommand>(_ command: C) async throws -> C.Answer {
        let answer = try await command.run(on: node)
        if C.queues { queued() }
        return answer
    }

    func feed(_ query: FeedQuery) async throws -> FeedPage { try await run(FeedRequest(query: query)) }
    func show(post: String) async throws -> FeedItem { try await run(ShowRequest(post: post)) }
    func audiences() async throws -> [Audience] { try await run(GroupListRequest()) }
    func friends() async throws -> [Friend] { try await run(FriendListRequest()) }
    func post(to audience: String, text: String) async throws -> Node.Posted { try await run(PostRequest(to: audience, text: text)) }
    func comment(on post: String, text: String) async throws -> Node.ThreadChange { try await run(CommentRequest(post: post, text: text)) }
}
