import KithNode

/// How `kith feed` shows a post's thread under its text, every line
/// indented (so nothing a friend wrote can pass for a feed entry) and
/// escaped by `Console`: "(edited)", the reactions with who gave them, and
/// the comments oldest first, each after its id.
enum ThreadLines {
    static func show(_ item: FeedItem) {
        if item.edited { Console.out("    (edited)") }
        if !item.reactions.isEmpty {
            let shown = item.reactions.map { "\($0.emoji) \($0.count) (\($0.by.joined(separator: ", ")))" }.joined(separator: "  ")
            Console.out(wrapping: shown, indent: "    ")
        }
        for comment in item.comments {
            // The id first, where the line is never cut: it is what `kith comment`, `edit` and `delete` take.
            Console.out(wrapping: "    ↳ \(comment.id)  \(VerifiedMark.name(comment.author, verified: comment.verified))  \(comment.createdAt)"
                        + (comment.edited ? "  (edited)" : ""), indent: "        ", first: "")
            FeedCommand.show(comment.text, indent: "        ")
        }
    }
}
