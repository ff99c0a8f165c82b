import ArgumentParser
import Foundation
import KithDaemon
import KithNode

struct FeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed", abstract: "Show the posts you can read, newest first.",
        discussion: """
            Each post says who can read it: "→ family (alice's group, 5 people)" (the count, its author \
            included, is known for your own posts and for a friend's group that shares its member list; \
            `kith group show` tells more), or "→ direct: you and bob" for a direct message. \
            The posts shown (with --json too) count as read from then on: `kith status` counts those not shown yet as unread.
            """)

    @OptionGroup var home: HomeOptions

    @Flag(help: "Print a JSON array of {id, author, audience, text, created_at, verified, edited, comments, reactions, direct, direct_with, audience_size}.")
    var json = false

    @Option(help: "Show at most this many posts.") var limit = 100

    @Flag(name: .customLong("dm"), help: "Show only direct messages.") var onlyDirect = false
    @Flag(name: .customLong("no-dm"), help: "Show no direct messages.") var noDirect = false

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
        guard !(onlyDirect && noDirect) else { throw ValidationError("give --dm or --no-dm, not both") }
    }

    func run() async throws {
        let items = try await home.run(FeedRequest(limit: limit, direct: onlyDirect ? true : noDirect ? false : nil))
        if json { return try Console.json(items) }
        if items.isEmpty { Console.note("no posts yet") }
        for item in items {
            // ✓ after the author: a friend verified with `kith friend verify` (or me).
            Console.out(wrapping: "\(VerifiedMark.name(item.author, verified: item.verified)) → \(Self.readers(item))  \(item.createdAt)",
                        indent: "    ", first: "")
            Console.out("    id \(item.id)")
            // Every line of the text starts indented and fits the terminal; Console escapes everything
            // else (CR included), so no part of a post can show at column 0 and pass for a feed entry.
            Self.show(item.text, indent: "    ")
            ThreadLines.show(item)
        }
    }

    /// Who can read a post: "direct: you and bob", or "family (alice's group, 5 people)".
    static func readers(_ item: FeedItem) -> String {
        if item.direct { return "direct: you and \(item.directWith ?? "?")" }
        let size = item.audienceSize.map { "\($0) \($0 == 1 ? "person" : "people")" } ?? "members unknown to you"
        return "\(item.audience) (\(item.author)'s group, \(size))"
    }

    static func show(_ text: String, indent: String) {
        for line in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            Console.out(wrapping: String(String.UnicodeScalarView(line)), indent: indent)
        }
    }
}
