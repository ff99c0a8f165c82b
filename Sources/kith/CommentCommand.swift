import ArgumentParser
import Foundation
import KithDaemon
import KithNode

/// `kith comment POST TEXT`: a comment goes to the post's author, whose
/// node passes it on, countersigned, to the post's audience.
struct CommentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "comment",
        abstract: "Comment on a post. Prints the comment's id.",
        discussion: """
            The comment is signed by you, encrypted under the post's audience key and sent to the \
            post's author, whose node passes it on to the members of the post's audience (only if \
            you are one of them). Given a comment's id, the comment goes to that comment's post: \
            comments are one level deep. `kith feed` shows the ids. --photo and --file attach photos \
            (their metadata removed unless --keep-metadata) and files, as `kith post` does; the text may \
            then be left out.
            """
    )

    @OptionGroup var home: HomeOptions

    @Argument(help: "The id of the post (or of a comment on it).")
    var post: String

    @OptionGroup var attach: AttachmentOptions

    @Argument(help: "The text of the comment, or - to read it from standard input (optional with an attachment).")
    var text: String?

    func validate() throws {
        guard text != nil || !attach.isEmpty else { throw ValidationError("give the comment's text, a --photo or a --file") }
    }

    func run() async throws {
        let body = try text.map { try Input.argumentOrStandardInput($0, what: "the comment") } ?? ""
        let sent = try await home.run(CommentRequest(post: post, text: body, attachments: attach.sources, keepMetadata: attach.keepMetadata))
        AttachmentOptions.report(sent.attachments)
        Console.out(sent.id)
    }
}

/// `kith react POST EMOJI`: one reaction per person per post.
struct ReactCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "react",
        abstract: "React to a post with one emoji, replacing your earlier reaction; --remove takes it back.",
        discussion: "The reaction travels like a comment: to the post's author, who passes it on to the audience."
    )

    @OptionGroup var home: HomeOptions

    @Argument(help: "The id of the post (or of a comment on it).")
    var post: String

    @Argument(help: "One emoji, e.g. 👍.")
    var emoji: String?

    @Flag(help: "Remove your reaction.") var remove = false

    func validate() throws {
        guard remove != (emoji != nil) else { throw ValidationError("give either an emoji or --remove") }
    }

    func run() async throws {
        _ = try await home.run(ReactRequest(post: post, emoji: remove ? nil : emoji))
    }
}
