import Foundation
import KithCrypto
import KithNode
import KithProtocol
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
    func react(to post: String, with emoji: String?) async throws -> Node.ThreadChange { try await run(ReactRequest(post: post, emoji: emoji)) }
    func edit(_ id: String, text: String) async throws -> Node.ThreadChange { try await run(EditRequest(id: id, text: text)) }
    func delete(_ id: String) async throws -> Node.ThreadChange { try await run(DeleteRequest(id: id)) }

    // People: friends, friend requests, invitations (the friends pages). Local
    // relays are accepted as on the command line: with KITH_ALLOW_LOCAL_RELAYS=1.
    private var allowLocalRelays: Bool { ProcessInfo.processInfo.environment["KITH_ALLOW_LOCAL_RELAYS"] == "1" }
    func invite(lifetime: UInt64) async throws -> IssuedInvitation { try await run(InviteRequest(lifetime: lifetime)) }
    func addFriend(pasted: String, as localName: String?) async throws -> FriendAdded {
        try await run(FriendAddRequest(card: pasted, localName: localName, allowLocalRelays: allowLocalRelays))
    }
    func friendRequests() async throws -> [PendingFriendRequest] { try await run(FriendRequestsRequest()) }
    func acceptFriend(requester: String) async throws -> FriendAdded {
        try await run(FriendAcceptRequest(requester: requester, localName: nil, allowLocalRelays: allowLocalRelays))
    }
    func declineFriend(requester: String) async throws -> FriendDecline { try await run(FriendDeclineRequest(requester: requester)) }
    func safetyNumber(friend: String, mark: Bool?) async throws -> (friend: Friend, number: String) {
        let answer = try await run(FriendVerifyRequest(friend: friend, mark: mark))
        return (answer.friend, answer.number)
    }
    func removeFriend(_ friend: String) async throws -> Node.FriendRemoval { try await run(FriendRemoveRequest(friend: friend)) }
    // People: direct messages.
    func chat(with friend: String, limit: Int, markRead: Bool) async throws -> [ChatMessage] {
        try await run(ChatRequest(friend: friend, limit: limit, markRead: markRead))
    }
    func sendDirect(to friend: String, text: String) async throws -> Node.Posted { try await run(DirectRequest(friend: friend, text: text)) }
    // People: audiences.
    func createAudience(_ name: String, shareMembers: Bool) async throws { _ = try await run(GroupCreateRequest(audience: name, shareMembers: shareMembers)) }
    func addMember(audience: String, friend: String) async throws -> Node.MembershipChange? {
        try await run(GroupAddRequest(audience: audience, friend: friend, shareHistory: false)).change
    }
    func removeMember(audience: String, friend: String) async throws -> Node.MembershipChange? {
        try await run(GroupRemoveRequest(audience: audience, friend: friend)).change
    }
    // People: the node's status, as the control socket's /v1/status reads it.
    func status() async throws -> NodeStatus { try await node.status() }
    func me() async throws -> WebMe { WebMe(name: try node.name(), fingerprint: Fingerprint.of(identity: try node.identity())) }
    // Photos and profiles: files pass through HOME/web-files, which only the node's user can enter.
    /// `HOME/web-files`, where each upload and each photo served gets a directory of its own.
    static func filesDirectory(home: String) -> String { (home as NSString).appendingPathComponent("web-files") }

    /// Makes `web-files` (0700), or checks it is a private directory of
    /// this user, and empties it: what a daemon stopped halfway left behind.
    /// Once, when the daemon starts (it holds the node, so no request of
    /// another is under way), not on every request.
    static func prepareFiles(home: String) throws {
        let parent = filesDirectory(home: home)
        guard mkdir(parent, 0o700) == 0 || errno == EEXIST else { throw NodeError("cannot create \(parent): \(String(cString: strerror(errno)))") }
        // Not followed if a link: attributesOfItem reads the entry itself.
        let attributes = try? FileManager.default.attributesOfItem(atPath: parent)
        guard attributes?[.type] as? FileAttributeType == .typeDirectory, (attributes?[.ownerAccountID] as? NSNumber)?.uint32Value == geteuid(),
              let mode = attributes?[.posixPermissions] as? Int, mode & 0o077 == 0 else {
            throw NodeError("\(parent) is not a private directory of this user", hint: "remove it; the daemon makes it again")
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] {
            try? FileManager.default.removeItem(atPath: (parent as NSString).appendingPathComponent(name))
        }
    }

    func privateDirectory() throws -> String {
        let path = (Self.filesDirectory(home: node.home) as NSString).appendingPathComponent(Hex.encode(randomBytes(8)))
        guard mkdir(path, 0o700) == 0 else { throw NodeError("cannot create \(path): \(String(cString: strerror(errno)))") }
        return path
    }
    func post(to audience: String, text: String, photos: [String]) async throws -> Node.Posted {
        try await run(PostRequest(to: audience, text: text, attachments: photos.map { AttachmentSource(kind: .photo, path: $0) }))
    }
    func savePhoto(of id: String, number: Int, thumbnail: Bool, to path: String) async throws {
        _ = try await run(PhotoGetRequest(post: id, number: number, out: path, force: false, thumbnail: thumbnail))
    }
    func profile(of friend: String?) async throws -> ProfileView? {
        // "None yet" is nil; the node says it with an error, as `kith profile show` does.
        do { return try await run(ProfileShowRequest(friend: friend)) } catch let error as NodeError
            where error.description == "you have no profile yet" || error.description.hasSuffix(" has not sent you a profile") {
            return nil
        }
    }
    func setProfile(name: String?, bio: String?, avatar: String?) async throws -> ProfileSent {
        try await run(ProfileSetRequest(name: name, bio: bio, avatar: avatar))
    }
    func saveAvatar(of friend: String?, to path: String) async throws {
        _ = try await run(ProfileAvatarRequest(friend: friend, out: path, force: false))
    }
}
