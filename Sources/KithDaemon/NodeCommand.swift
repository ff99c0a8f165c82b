import Foundation
import KithNode
import KithProtocol

/// A command line request that runs on the unlocked node: inside the
/// node's running daemon (`POST /v1/node/NAME` on the control socket,
/// the command as the JSON body), or, with no daemon, in the command line's
/// own process. Either way the same `run(on:)` does the work, so the answer
/// is the same.
public protocol NodeCommand: Codable, Sendable {
    associatedtype Answer: Codable & Sendable
    /// Its name on the control socket.
    static var name: String { get }
    /// Whether it queues deliveries, so that the daemon syncs at once after it.
    static var queues: Bool { get }
    func run(on node: Node) async throws -> Answer
}

extension NodeCommand {
    public static var queues: Bool { false }
}

/// Every command the control socket serves under `/v1/node/`.
var nodeCommands: [any NodeCommand.Type] { [
    PostRequest.self, FeedRequest.self, CardRequest.self, KeyShowRequest.self, KeyRotateRequest.self, KeyScheduleRequest.self,
    FriendAddRequest.self, FriendRemoveRequest.self, FriendListRequest.self, FriendVerifyRequest.self, FriendReplaceRequest.self,
    InviteRequest.self, FriendRequestsRequest.self, FriendAcceptRequest.self, FriendDeclineRequest.self,
    GroupCreateRequest.self, GroupAddRequest.self, GroupRemoveRequest.self, GroupListRequest.self,
    GroupShowRequest.self, GroupShareMembersRequest.self, DirectRequest.self, ChatRequest.self,
    RelayAddRequest.self, RelayRemoveRequest.self,
    CommentRequest.self, ReactRequest.self, EditRequest.self, DeleteRequest.self,
    ShowRequest.self, MarkReadRequest.self, PhotoGetRequest.self,
    ProfileSetRequest.self, ProfileShowRequest.self, ProfileAvatarRequest.self,
] }

/// An answer with nothing to say beyond success.
public struct Done: Codable, Sendable {}

// MARK: Posts

public struct PostRequest: NodeCommand {
    public static let name = "post"
    public static let queues = true
    public let to: String
    public let text: String
    /// Photos and files by absolute path, read where the command runs (the daemon is the same user).
    public let attachments: [AttachmentSource]
    public let keepMetadata: Bool
    public init(to: String, text: String, attachments: [AttachmentSource] = [], keepMetadata: Bool = false) {
        (self.to, self.text, self.attachments, self.keepMetadata) = (to, text, attachments, keepMetadata)
    }
    /// A request without attachments may leave them out (clients from before them did).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(to: c.decode(String.self, forKey: .to), text: c.decode(String.self, forKey: .text),
                      attachments: c.decodeIfPresent([AttachmentSource].self, forKey: .attachments) ?? [],
                      keepMetadata: c.decodeIfPresent(Bool.self, forKey: .keepMetadata) ?? false)
    }
    public func run(on node: Node) async throws -> Node.Posted {
        try await node.post(to: to, text: text, attachments: attachments, keepMetadata: keepMetadata)
    }
}

public struct FeedRequest: NodeCommand {
    public static let name = "feed"
    public let query: FeedQuery
    public init(query: FeedQuery) { self.query = query }
    public func run(on node: Node) async throws -> FeedPage { try node.feed(query) }
}

public struct ShowRequest: NodeCommand {
    public static let name = "show"
    public let post: String
    public init(post: String) { self.post = post }
    public func run(on node: Node) async throws -> FeedItem { try node.show(post: post) }
}

/// How many posts `kith feed --mark-read` marked read.
public struct MarkedRead: Codable, Sendable {
    public let marked: Int
}

public struct MarkReadRequest: NodeCommand {
    public static let name = "mark-read"
    public let query: FeedQuery
    public init(query: FeedQuery) { self.query = query }
    public func run(on node: Node) async throws -> MarkedRead { MarkedRead(marked: try node.markRead(query)) }
}

public struct DirectRequest: NodeCommand {
    public static let name = "dm"
    public static let queues = true
    public let friend: String
    public let text: String
    public let attachments: [AttachmentSource]
    public let keepMetadata: Bool
    public init(friend: String, text: String, attachments: [AttachmentSource] = [], keepMetadata: Bool = false) {
        (self.friend, self.text, self.attachments, self.keepMetadata) = (friend, text, attachments, keepMetadata)
    }
    /// A request without attachments may leave them out (clients from before them did).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(friend: c.decode(String.self, forKey: .friend), text: c.decode(String.self, forKey: .text),
                      attachments: c.decodeIfPresent([AttachmentSource].self, forKey: .attachments) ?? [],
                      keepMetadata: c.decodeIfPresent(Bool.self, forKey: .keepMetadata) ?? false)
    }
    public func run(on node: Node) async throws -> Node.Posted {
        try await node.sendDirect(to: friend, text: text, attachments: attachments, keepMetadata: keepMetadata)
    }
}

public struct ChatRequest: NodeCommand {
    public static let name = "chat"
    public let friend: String
    public let limit: Int
    public let markRead: Bool
    public init(friend: String, limit: Int, markRead: Bool = true) { (self.friend, self.limit, self.markRead) = (friend, limit, markRead) }
    public func run(on node: Node) async throws -> [ChatMessage] {
        guard limit > 0 else { throw NodeError("the limit must be positive") }
        return try node.chat(with: friend, limit: limit, markRead: markRead)
    }
}

// MARK: Keys and cards

public struct CardRequest: NodeCommand {
    public static let name = "card"
    public let holder: String?
    public init(holder: String?) { self.holder = holder }
    public func run(on node: Node) async throws -> String { try await node.issueCard(for: holder).text }
}

public struct KeyShowRequest: NodeCommand {
    public static let name = "key-show"
    public init() {}
    public func run(on node: Node) async throws -> KeyInfo { try node.keyInfo() }
}

/// What `kith key rotate` did, with the keys as they are now.
public struct KeyRotation: Codable, Sendable {
    public let updatesQueuedFor: Int
    public let skipped: [String]
    public let keys: KeyInfo
}

public struct KeyRotateRequest: NodeCommand {
    public static let name = "key-rotate"
    public static let queues = true
    public init() {}
    public func run(on node: Node) async throws -> KeyRotation {
        let rotation = try await node.rotateEncryptionKey()
        return KeyRotation(updatesQueuedFor: rotation.updatesQueuedFor, skipped: rotation.skipped, keys: try node.keyInfo())
    }
}

public struct KeyScheduleRequest: NodeCommand {
    public static let name = "key-schedule"
    public let every: Int?
    public let grace: Int?
    public init(every: Int?, grace: Int?) { (self.every, self.grace) = (every, grace) }
    public func run(on node: Node) async throws -> KeyInfo {
        if every != nil || grace != nil { try await node.setRotationSchedule(everyDays: every, graceDays: grace) }
        return try node.keyInfo()
    }
}

// MARK: Friends

public struct FriendAddRequest: NodeCommand {
    public static let name = "friend-add"
    /// An invitation's answer is queued: the daemon sends it at once.
    public static let queues = true
    /// A card or an invitation, as pasted.
    public let card: String
    public let localName: String?
    public let allowLocalRelays: Bool
    public init(card: String, localName: String?, allowLocalRelays: Bool) {
        (self.card, self.localName, self.allowLocalRelays) = (card, localName, allowLocalRelays)
    }
    public func run(on node: Node) async throws -> FriendAdded {
        try await node.addFriend(pasted: card, as: localName, allowLocalRelays: allowLocalRelays)
    }
}

public struct FriendRemoveRequest: NodeCommand {
    public static let name = "friend-remove"
    public static let queues = true
    public let friend: String
    public init(friend: String) { self.friend = friend }
    public func run(on node: Node) async throws -> Node.FriendRemoval { try await node.removeFriend(named: friend) }
}

public struct FriendListRequest: NodeCommand {
    public static let name = "friend-list"
    public init() {}
    public func run(on node: Node) async throws -> [Friend] { try node.friends() }
}

/// A friend and the safety number I share with them.
public struct SafetyNumberAnswer: Codable, Sendable {
    public let friend: Friend
    public let number: String
}

public struct FriendVerifyRequest: NodeCommand {
    public static let name = "friend-verify"
    public let friend: String
    /// Mark verified (true) or not (false); nil only shows the number.
    public let mark: Bool?
    public init(friend: String, mark: Bool?) { (self.friend, self.mark) = (friend, mark) }
    public func run(on node: Node) async throws -> SafetyNumberAnswer {
        let (shown, number) = try node.safetyNumber(withFriendNamed: friend)
        if let mark { return SafetyNumberAnswer(friend: try await node.setVerified(friendNamed: friend, mark), number: number) }
        return SafetyNumberAnswer(friend: shown, number: number)
    }
}

public struct FriendReplaceRequest: NodeCommand {
    public static let name = "friend-replace"
    public static let queues = true
    public let friend: String
    public let card: String
    public let allowLocalRelays: Bool
    public init(friend: String, card: String, allowLocalRelays: Bool) {
        (self.friend, self.card, self.allowLocalRelays) = (friend, card, allowLocalRelays)
    }
    public func run(on node: Node) async throws -> FriendReplacement {
        try await node.replaceFriend(named: friend, cardText: card, allowLocalRelays: allowLocalRelays)
    }
}

// MARK: Friend invitations

public struct InviteRequest: NodeCommand {
    public static let name = "invite"
    /// Seconds until the relay forgets the invitation.
    public let lifetime: UInt64
    public init(lifetime: UInt64) { self.lifetime = lifetime }
    public func run(on node: Node) async throws -> IssuedInvitation { try await node.invite(lifetime: lifetime) }
}

public struct FriendRequestsRequest: NodeCommand {
    public static let name = "friend-requests"
    public init() {}
    public func run(on node: Node) async throws -> [PendingFriendRequest] { try node.friendRequests() }
}

public struct FriendAcceptRequest: NodeCommand {
    public static let name = "friend-accept"
    public let requester: String
    public let localName: String?
    public let allowLocalRelays: Bool
    public init(requester: String, localName: String?, allowLocalRelays: Bool) {
        (self.requester, self.localName, self.allowLocalRelays) = (requester, localName, allowLocalRelays)
    }
    public func run(on node: Node) async throws -> FriendAdded {
        try await node.acceptFriendRequest(named: requester, as: localName, allowLocalRelays: allowLocalRelays)
    }
}

public struct FriendDeclineRequest: NodeCommand {
    public static let name = "friend-decline"
    public let requester: String
    public init(requester: String) { self.requester = requester }
    public func run(on node: Node) async throws -> FriendDecline { try await node.declineFriendRequest(named: requester) }
}

// MARK: Audiences

public struct GroupCreateRequest: NodeCommand {
    public static let name = "group-create"
    public let audience: String
    public let shareMembers: Bool
    public init(audience: String, shareMembers: Bool) { (self.audience, self.shareMembers) = (audience, shareMembers) }
    public func run(on node: Node) async throws -> Done {
        try await node.createAudience(name: audience, shareMembers: shareMembers)
        return Done()
    }
}

public struct GroupShowRequest: NodeCommand {
    public static let name = "group-show"
    public let audience: String
    /// A friend's name: show their audience of that name instead of mine.
    public let owner: String?
    public init(audience: String, owner: String?) { (self.audience, self.owner) = (audience, owner) }
    public func run(on node: Node) async throws -> AudienceDetails { try node.audienceDetails(name: audience, owner: owner) }
}

public struct GroupShareMembersRequest: NodeCommand {
    public static let name = "group-share-members"
    public static let queues = true
    public let audience: String
    public let share: Bool
    public init(audience: String, share: Bool) { (self.audience, self.share) = (audience, share) }
    public func run(on node: Node) async throws -> MembershipAnswer {
        MembershipAnswer(change: try await node.setShareMembers(audience: audience, share))
    }
}

/// A change of members, or nil when there was nothing to change.
public struct MembershipAnswer: Codable, Sendable {
    public let change: Node.MembershipChange?
}

public struct GroupAddRequest: NodeCommand {
    public static let name = "group-add"
    public static let queues = true
    public let audience: String
    public let friend: String
    public let shareHistory: Bool
    public init(audience: String, friend: String, shareHistory: Bool) {
        (self.audience, self.friend, self.shareHistory) = (audience, friend, shareHistory)
    }
    public func run(on node: Node) async throws -> MembershipAnswer {
        MembershipAnswer(change: try await node.addMember(audience: audience, friend: friend, shareHistory: shareHistory))
    }
}

public struct GroupRemoveRequest: NodeCommand {
    public static let name = "group-remove"
    public static let queues = true
    public let audience: String
    public let friend: String
    public init(audience: String, friend: String) { (self.audience, self.friend) = (audience, friend) }
    public func run(on node: Node) async throws -> MembershipAnswer {
        MembershipAnswer(change: try await node.removeMember(audience: audience, friend: friend))
    }
}

public struct GroupListRequest: NodeCommand {
    public static let name = "group-list"
    public init() {}
    public func run(on node: Node) async throws -> [Audience] { try node.audiences() }
}

// MARK: Relays

public struct RelayAddRequest: NodeCommand {
    public static let name = "relay-add"
    public static let queues = true
    public let url: String
    /// The invite code as given, checked here.
    public let invite: String?
    public init(url: String, invite: String?) { (self.url, self.invite) = (url, invite) }
    public func run(on node: Node) async throws -> RelayChange {
        let code: RelayInvite?
        do { code = try invite.map { try RelayInvite(text: $0) } } catch {
            throw NodeError("--invite is not an invite code", hint: "an invite code is \(RelayInvite.textLength) characters, as `kith relay invite` prints it")
        }
        return try await node.addRelay(url, invite: code)
    }
}

public struct RelayRemoveRequest: NodeCommand {
    public static let name = "relay-remove"
    public static let queues = true
    public let url: String
    public init(url: String) { self.url = url }
    public func run(on node: Node) async throws -> RelayChange { try await node.removeRelay(url) }
}

// MARK: Threads

public struct CommentRequest: NodeCommand {
    public static let name = "comment"
    public static let queues = true
    public let post: String
    public let text: String
    public let attachments: [AttachmentSource]
    public let keepMetadata: Bool
    public init(post: String, text: String, attachments: [AttachmentSource] = [], keepMetadata: Bool = false) {
        (self.post, self.text, self.attachments, self.keepMetadata) = (post, text, attachments, keepMetadata)
    }
    /// A request without attachments may leave them out (clients from before them did).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(post: c.decode(String.self, forKey: .post), text: c.decode(String.self, forKey: .text),
                      attachments: c.decodeIfPresent([AttachmentSource].self, forKey: .attachments) ?? [],
                      keepMetadata: c.decodeIfPresent(Bool.self, forKey: .keepMetadata) ?? false)
    }
    public func run(on node: Node) async throws -> Node.ThreadChange {
        try await node.comment(on: post, text: text, attachments: attachments, keepMetadata: keepMetadata)
    }
}

public struct ReactRequest: NodeCommand {
    public static let name = "react"
    public static let queues = true
    public let post: String
    /// Nil removes my reaction.
    public let emoji: String?
    public init(post: String, emoji: String?) { (self.post, self.emoji) = (post, emoji) }
    public func run(on node: Node) async throws -> Node.ThreadChange { try await node.react(to: post, with: emoji) }
}

public struct EditRequest: NodeCommand {
    public static let name = "edit"
    public static let queues = true
    public let id: String
    public let text: String
    public init(id: String, text: String) { (self.id, self.text) = (id, text) }
    public func run(on node: Node) async throws -> Node.ThreadChange { try await node.edit(id, text: text) }
}

public struct DeleteRequest: NodeCommand {
    public static let name = "delete"
    public static let queues = true
    public let id: String
    public init(id: String) { self.id = id }
    public func run(on node: Node) async throws -> Node.ThreadChange { try await node.delete(id) }
}

// MARK: Profiles

public struct ProfileSetRequest: NodeCommand {
    public static let name = "profile-set"
    public static let queues = true
    /// nil keeps the name, empty removes it.
    public let name: String?
    /// nil keeps the bio.
    public let bio: String?
    /// A photo by absolute path; nil keeps the avatar, empty removes it.
    public let avatar: String?
    public init(name: String?, bio: String?, avatar: String?) { (self.name, self.bio, self.avatar) = (name, bio, avatar) }
    public func run(on node: Node) async throws -> ProfileSent { try await node.setProfile(name: name, bio: bio, avatar: avatar) }
}

public struct ProfileAvatarRequest: NodeCommand {
    public static let name = "profile-avatar"
    /// nil: my own avatar.
    public let friend: String?
    /// An absolute path.
    public let out: String
    public let force: Bool
    public init(friend: String?, out: String, force: Bool) { (self.friend, self.out, self.force) = (friend, out, force) }
    public func run(on node: Node) async throws -> SavedAttachment { try await node.saveAvatar(of: friend, to: out, force: force) }
}

public struct ProfileShowRequest: NodeCommand {
    public static let name = "profile-show"
    /// nil: my own profile.
    public let friend: String?
    public init(friend: String?) { self.friend = friend }
    public func run(on node: Node) async throws -> ProfileView { try node.profile(of: friend) }
}

// MARK: Attachments

public struct PhotoGetRequest: NodeCommand {
    public static let name = "photo-get"
    /// A post's id (or unique prefix), or a comment's id.
    public let post: String
    /// Which attachment, from 1.
    public let number: Int
    /// An absolute path.
    public let out: String
    public let force: Bool
    public let thumbnail: Bool
    public init(post: String, number: Int, out: String, force: Bool, thumbnail: Bool) {
        (self.post, self.number, self.out, self.force, self.thumbnail) = (post, number, out, force, thumbnail)
    }
    public func run(on node: Node) async throws -> SavedAttachment {
        try await node.saveAttachment(of: post, number: number, to: out, force: force, thumbnail: thumbnail)
    }
}
