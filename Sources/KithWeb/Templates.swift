import Foundation
import Mustache

/// The pages' templates and the two assets, built into the binary from
/// `Resources` (SwiftPM's `embedInCode`): nothing is read from disk or
/// loaded from anywhere else at run time.
///
/// Every value from outside (posts, comments, names) goes through
/// mustache's `{{ }}`, which escapes `& < > " '`; no template uses the
/// unescaped `{{{ }}}` or `{{& }}`.
struct Templates: Sendable {
    let library: MustacheLibrary

    static let stylesheet = String(decoding: PackageResources.kith_css, as: UTF8.self)
    static let script = String(decoding: PackageResources.kith_js, as: UTF8.self)

    init() throws {
        var library = MustacheLibrary()
        let sources: [(String, [UInt8])] = [
            ("top", PackageResources.top_mustache), ("bottom", PackageResources.bottom_mustache),
            ("item", PackageResources.item_mustache), ("feed", PackageResources.feed_mustache),
            ("post", PackageResources.post_mustache), ("message", PackageResources.message_mustache),
        ]
        for (name, bytes) in sources { try library.register(String(decoding: bytes, as: UTF8.self), named: name) }
        self.library = library
    }

    func render(_ page: some Page) -> String {
        library.render(page, withTemplate: type(of: page).template) ?? ""
    }
}

/// A page's values, as its template reads them.
protocol Page {
    static var template: String { get }
}
