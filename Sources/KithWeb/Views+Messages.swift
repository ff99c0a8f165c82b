import Foundation
import KithNode

struct MessagesPageView: Page {
    static let template = "messages"
    let title = "Messages"
    let csrf: String
    let signedIn = true
    let friends: [FriendRow]
    let hasFriends: Bool

    init(csrf: String, friends: [Friend]) {
        self.csrf = csrf
        self.friends = friends.map(FriendRow.init)
        hasFriends = !friends.isEmpty
    }
}

struct ConversationPageView: Page {
    static let template = "conversation"
    let title: String
    let csrf: String
    let signedIn = true
    let friend: String
    let messages: [MessageView]
    let path: String
    /// Where the conversation hears of new messages (`WebRoutes.liveEvents`).
    let liveEvents: String

    struct MessageView {
        let id: String
        let outgoing: Bool
        let author: String
        let createdAt: String
        let when: String
        let edited: Bool
        let unread: Bool
        let text: String
        let attachmentCount: Int
        let hasAttachments: Bool
    }

    init(csrf: String, liveEvents: String, friend: String, messages: [ChatMessage]) {
        (self.csrf, self.liveEvents, self.friend) = (csrf, liveEvents, friend)
        title = "Messages with " + friend
        path = Self.path(friend)
        self.messages = messages.map {
            MessageView(id: $0.id, outgoing: $0.outgoing, author: $0.outgoing ? "you" : $0.author, createdAt: $0.createdAt,
                        when: PostView.when($0.createdAt), edited: $0.edited, unread: $0.unread, text: $0.text,
                        attachmentCount: $0.attachments.count, hasAttachments: !$0.attachments.isEmpty)
        }
    }

    static func path(_ friend: String) -> String { "/chat?friend=" + FriendPageView.query(friend) }
}
