import Foundation
import KithNode

struct EditPageView: Page {
    static let template = "edit"
    let title: String
    let csrf: String
    let signedIn = true
    let what: String
    let text: String
    let action: String
    let back: String

    init(csrf: String, target: ThreadTarget) {
        (self.csrf, what, text) = (csrf, target.what, target.text)
        title = "Edit your \(target.what)"
        action = target.path + "/edit"
        back = target.postPath + "#" + target.anchor
    }
}

/// What deleting a post or comment does, before it is done.
struct DeletionView: Page {
    static let template = "delete"
    let title: String
    let csrf: String
    let signedIn = true
    let what: String
    let isPost: Bool
    let author: String
    let fingerprint: String?
    /// The first words of its text.
    let excerpt: String
    let action: String
    let back: String

    init(csrf: String, target: ThreadTarget, fingerprint: String?) {
        (self.csrf, what, author, self.fingerprint) = (csrf, target.what, target.author, fingerprint)
        title = "Delete a \(target.what)"
        isPost = target.comment == nil
        excerpt = Self.excerpt(target.text)
        action = target.path + "/delete"
        back = target.postPath + "#" + target.anchor
    }

    /// The text's first words, on one line: at most 80 characters, cut at a word when it can be.
    static func excerpt(_ text: String) -> String {
        let flat = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        guard flat.count > 80 else { return flat }
        let cut = flat.prefix(80)
        return (cut.lastIndex(of: " ").map { String(cut[..<$0]) } ?? String(cut)) + " …"
    }
}
