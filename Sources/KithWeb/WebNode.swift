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
    /// My reaction to a post: an emoji, or nil to take mine back (`kith react`).
    func react(to post: String, with emoji: String?) async throws -> Node.ThreadChange
    /// New text for my post or comment (`kith edit`).
    func edit(_ id: String, text: String) async throws -> Node.ThreadChange
    /// Deletes my post or comment, or a comment on my post (`kith delete`).
    func delete(_ id: String) async throws -> Node.ThreadChange

    // People: friends, friend requests, invitations (the friends pages).
    func invite(lifetime: UInt64) async throws -> IssuedInvitation
    func addFriend(pasted: String, as localName: String?) async throws -> FriendAdded
    func friendRequests() async throws -> [PendingFriendRequest]
    func acceptFriend(requester: String) async throws -> FriendAdded
    func declineFriend(requester: String) async throws -> FriendDecline
    /// The friend and our safety number; `mark` sets (true) or clears (false) their verified mark first.
    func safetyNumber(friend: String, mark: Bool?) async throws -> (friend: Friend, number: String)
    func removeFriend(_ friend: String) async throws -> Node.FriendRemoval
    // People: direct messages.
    func chat(with friend: String, limit: Int, markRead: Bool) async throws -> [ChatMessage]
    func sendDirect(to friend: String, text: String) async throws -> Node.Posted
    // People: audiences.
    func createAudience(_ name: String, shareMembers: Bool) async throws
    func addMember(audience: String, friend: String) async throws -> Node.MembershipChange?
    func removeMember(audience: String, friend: String) async throws -> Node.MembershipChange?
    // People: the node's status.
    func status() async throws -> NodeStatus
    /// My name and fingerprint, as my cards give them: cheaper than `status()`, for every page that tells my posts from friends'.
    func me() async throws -> WebMe
    // Photos and profiles.
    /// A new private (0700) directory inside the node's home, for photos on
    /// their way in (uploads) or out (decrypted for the browser); the caller removes it.
    func privateDirectory() throws -> String
    /// A post with photos (absolute paths), their metadata removed.
    func post(to audience: String, text: String, photos: [String]) async throws -> Node.Posted
    /// Decrypts photo `number` (from 1) of a post or comment, or its thumbnail, to `path`, fetching it first if need be.
    func savePhoto(of id: String, number: Int, thumbnail: Bool, to path: String) async throws
    /// My profile (friend nil) or a friend's; nil when there is none yet.
    func profile(of friend: String?) async throws -> ProfileView?
    /// nil keeps a field; an avatar is a photo by absolute path.
    func setProfile(name: String?, bio: String?, avatar: String?) async throws -> ProfileSent
    /// Decrypts my avatar (friend nil) or a friend's to `path`, fetching it first if need be.
    func saveAvatar(of friend: String?, to path: String) async throws
}

/// The node's owner, as pages name them.
public struct WebMe: Sendable {
    public let name: String
    public let fingerprint: String

    public init(name: String, fingerprint: String) { (self.name, self.fingerprint) = (name, fingerprint) }
}
