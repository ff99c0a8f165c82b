import ArgumentParser
import Foundation
import KithDaemon
import KithNode

/// `kith show POST`: one post with its whole thread.
struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show one post with all its comments and reactions.",
        discussion: """
            The post is shown as `kith feed` shows it, with every comment instead of the newest \
            \(Node.commentsInFeed), and counts as read from then on. --json prints the post as one \
            object, with the keys `kith feed --json` gives each post ("more_comments" is 0).
            """)

    @OptionGroup var home: HomeOptions

    @Argument(help: "The post's id, or its first 8 or more hex digits.") var post: String

    @Flag(help: "Print the post as JSON.") var json = false

    func run() async throws {
        let item = try await home.run(ShowRequest(post: post))
        if json { return try Console.json(item) }
        ThreadLines.show(item)
    }
}
