import ArgumentParser
import Foundation
import KithDaemon
import KithNode

/// `kith edit ID TEXT`: new text for my post or comment.
struct EditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edit",
        abstract: "Replace the text of your post or comment.",
        discussion: "Friends' nodes show the new text, marked edited, whatever order the post and its edits reach them in."
    )

    @OptionGroup var home: HomeOptions

    @Argument(help: "The id of your post or comment.")
    var id: String

    @Argument(help: "The new text, or - to read it from standard input.")
    var text: String

    func run() async throws {
        let body = try Input.argumentOrStandardInput(text, what: "the new text")
        _ = try await home.run(EditRequest(id: id, text: body))
    }
}

/// `kith delete ID`: deletes my post or comment, or a comment on my post.
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete your post or comment, or a comment on your post.",
        discussion: """
            Your node erases it at once, with a post's comments and reactions, and sends the delete to \
            the post's audience: each friend's node that receives it erases it too, and never shows it, \
            even if the delete arrives before the post. A friend who has already read it may have \
            copied it elsewhere: a delete cannot reach that copy.
            """
    )

    @OptionGroup var home: HomeOptions

    @Argument(help: "The id of the post or comment.")
    var id: String

    func run() async throws {
        let deleted = try await home.run(DeleteRequest(id: id))
        Console.note("deleted the \(deleted.isPost ? "post" : "comment") here; the delete is queued for \(deleted.recipients) "
            + "\(deleted.recipients == 1 ? "friend" : "friends"), whose nodes erase it when they receive it "
            + "(what someone already copied elsewhere stays there)")
    }
}
