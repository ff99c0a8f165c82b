import Foundation
import Hummingbird
import Mustache

/// The pages' templates and the two assets, built into the binary from
/// `Resources` (SwiftPM's `embedInCode`): nothing is read from disk or
/// loaded from anywhere else at run time.
///
/// Every value from outside (posts, comments, names) goes through
/// mustache's `{{ }}`, escaped by `HTMLScalars`; every template starts with
/// `{{% CONTENT_TYPE: KITH_HTML}}` (a partial otherwise goes back to the
/// library's own escaper). No template uses the unescaped `{{{ }}}` or `{{& }}`.
struct Templates: Sendable {
    let library: MustacheLibrary

    static let stylesheet = String(decoding: PackageResources.kith_css, as: UTF8.self)
    static let script = String(decoding: PackageResources.kith_js, as: UTF8.self)

    init() throws {
        MustacheContentTypes.register(HTMLScalars(), named: "KITH_HTML")
        var library = MustacheLibrary()
        let sources: [(String, [UInt8])] = [
            ("top", PackageResources.top_mustache), ("bottom", PackageResources.bottom_mustache),
            ("item", PackageResources.item_mustache), ("feed", PackageResources.feed_mustache),
            ("post", PackageResources.post_mustache), ("message", PackageResources.message_mustache),
            ("friends", PackageResources.friends_mustache), ("friend", PackageResources.friend_mustache),
            ("friend-remove", PackageResources.friend_remove_mustache),
            ("messages", PackageResources.messages_mustache), ("conversation", PackageResources.conversation_mustache),
            ("audiences", PackageResources.audiences_mustache), ("audience", PackageResources.audience_mustache),
            ("audience-remove", PackageResources.audience_remove_mustache), ("status", PackageResources.status_mustache),
            ("onboarding", PackageResources.onboarding_mustache),
            ("edit", PackageResources.edit_mustache), ("delete", PackageResources.delete_mustache),
                        ("profile", PackageResources.profile_mustache),
            ("photos", PackageResources.photos_mustache),
        ]
        for (name, bytes) in sources { try library.register(String(decoding: bytes, as: UTF8.self), named: name) }
        self.library = library
    }

    /// The page as HTML, or a plain 500 when it cannot be made.
    func response(_ page: some Page, status: HTTPResponse.Status = .ok) -> Response {
        guard let html = library.render(page, withTemplate: type(of: page).template) else {
            return Response(status: .internalServerError, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "Kith could not make this page. Nothing was changed.\n")))
        }
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

/// A page's values, as its template reads them.
protocol Page {
    static var template: String { get }
}

/// HTML escaping of `& < > " '` one Unicode scalar at a time. Mustache's
/// own escaper looks at whole characters, so a `<` joined to its
/// neighbour in one grapheme (after U+0600 or U+0D4E, before a combining
/// accent) would pass as it is, and a browser, which reads scalars, would
/// see markup.
struct HTMLScalars: MustacheContentType {
    func escapeText(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
            case "'": out.append(contentsOf: "&#39;".unicodeScalars)
            default: out.append(scalar)
            }
        }
        return String(out)
    }
}
