import Foundation
import KithNode

/// How `kith feed` and `kith show` print a post with its thread: a header
/// (author, ✓ if verified, audience, date in the local time zone), the id,
/// the text, then "(edited)", the reactions with who gave them, and the
/// comments oldest first, each after its id. Every line but the header
/// is indented (so nothing a friend wrote can pass for a feed entry) and
/// everything is escaped by `Console`.
enum ThreadLines {
    static func show(_ item: FeedItem) {
        var header = "\(VerifiedMark.name(item.author, verified: item.verified)) → \(readers(item))  \(dates(item.createdAt, item.receivedAt, misdated: item.misdated))"
        if item.unread { header += "  • new" }
        Console.out(wrapping: header, indent: "    ", first: "")
        Console.out("    id \(item.id)")
        // Every line of the text starts indented and fits the terminal; Console escapes everything
        // else (CR included), so no part of a post can show at column 0 and pass for a feed entry.
        text(item.text, indent: "    ")
        attachments(item.attachments, indent: "    ")
        if item.edited { Console.out("    (edited)") }
        if !item.reactions.isEmpty {
            let shown = item.reactions.map { "\($0.emoji) \($0.count) (\($0.by.joined(separator: ", ")))" }.joined(separator: "  ")
            Console.out(wrapping: shown, indent: "    ")
        }
        if item.moreComments > 0 {
            Console.out("    ↳ \(item.moreComments) earlier \(item.moreComments == 1 ? "comment" : "comments"): kith show \(item.id)")
        }
        for comment in item.comments {
            // The id first, where the line is never cut: it is what `kith comment`, `edit` and `delete` take.
            Console.out(wrapping: "    ↳ \(comment.id)  \(VerifiedMark.name(comment.author, verified: comment.verified))  "
                        + dates(comment.createdAt, comment.receivedAt, misdated: comment.misdated) + (comment.edited ? "  (edited)" : ""),
                        indent: "        ", first: "")
            text(comment.text, indent: "        ")
            attachments(comment.attachments, indent: "        ")
        }
    }

    /// One line per attachment: its number (for `kith photo get`), kind, name, size, dimensions and state,
    /// e.g. `[photo 1] IMG_1234.jpg  2.1 MB  4032x3024  (thumbnail here, full size: kith photo get)`.
    static func attachments(_ list: [FeedAttachment], indent: String) {
        for (index, a) in list.enumerated() {
            var line = "\(indent)[\(a.kind) \(index + 1)] \(a.name.isEmpty ? "(no name)" : a.name)  \(size(a.size))"
            if a.kind == "photo" { line += "  \(a.width)x\(a.height)" }
            if let damaged = a.damaged {
                line += "  (damaged: \(damaged))"
            } else if a.fetched {
                line += "  (here)"
            } else {
                line += a.thumbnailFetched ? "  (thumbnail here; not fetched)" : "  (not fetched)"
            }
            Console.out(wrapping: line, indent: indent + "    ", first: "")
        }
    }

    /// Bytes as people read them: 512 B, 3.4 kB, 2.1 MB.
    static func size(_ bytes: UInt64) -> String {
        if bytes < 1000 { return "\(bytes) B" }
        let units = ["kB", "MB", "GB"]
        var value = Double(bytes) / 1000, unit = 0
        while value >= 1000, unit < units.count - 1 { value /= 1000; unit += 1 }
        return String(format: "%.1f %@", value, units[unit])
    }

    static func text(_ text: String, indent: String) {
        for line in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            Console.out(wrapping: String(String.UnicodeScalarView(line)), indent: indent)
        }
    }

    /// The claimed date in the local time zone, and when it arrived if the two are far apart.
    static func dates(_ created: String, _ received: String, misdated: Bool) -> String {
        local(created) + (misdated ? "  (arrived \(local(received)))" : "")
    }

    /// An ISO 8601 UTC time as "2026-11-26 10:41" in the local time zone (`TZ` is honoured).
    static func local(_ iso: String) -> String {
        guard let date = try? Date(iso, strategy: .iso8601) else { return iso }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .current
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return formatter.string(from: date)
    }

    /// Who can read a post: "direct: you and bob", or "family (alice's group, 5 people)".
    static func readers(_ item: FeedItem) -> String {
        if item.direct { return "direct: you and \(item.directWith ?? "?")" }
        let size = item.audienceSize.map { "\($0) \($0 == 1 ? "person" : "people")" } ?? "members unknown to you"
        return "\(item.audience) (\(VerifiedMark.name(item.author, verified: false))'s group, \(size))"
    }
}
