import ArgumentParser
import Foundation
import KithDaemon
import KithNode

struct FeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed", abstract: "Show the posts you can read, newest first.",
        discussion: "The posts shown (with --json too) count as read from then on: `kith status` counts those not shown yet as unread.")

    @OptionGroup var home: HomeOptions

    @Flag(help: "Print a JSON array of {id, author, audience, text, created_at, verified, edited, comments, reactions}.") var json = false

    @Option(help: "Show at most this many posts.") var limit = 100

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    func run() async throws {
        let items = try await home.run(FeedRequest(limit: limit))
        if json { return try Console.json(items) }
        if items.isEmpty { Console.note("no posts yet") }
        for item in items {
            // ✓ after the author: a friend verified with `kith friend verify` (or me).
            Console.out(wrapping: "\(VerifiedMark.name(item.author, verified: item.verified)) → \(item.audience)  \(item.createdAt)",
                        indent: "    ", first: "")
            Console.out("    id \(item.id)")
            // Every line of the text starts indented and fits the terminal; Console escapes everything
            // else (CR included), so no part of a post can show at column 0 and pass for a feed entry.
            Self.show(item.text, indent: "    ")
            ThreadLines.show(item)
        }
    }

    static func show(_ text: String, indent: String) {
        for line in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            Console.out(wrapping: String(String.UnicodeScalarView(line)), indent: indent)
        }
    }
}
