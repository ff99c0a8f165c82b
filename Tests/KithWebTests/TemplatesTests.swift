import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import Testing
@testable import KithWeb

@Suite struct TemplatesTests {
    /// `< > " '` joined to a neighbour in one grapheme: before them a
    /// prepended concatenation mark, after them a combining accent.
    static let joined = ["\u{600}<form method=post action=/posts>\u{301}", "\u{D4E}\"\u{301} autofocus", "\u{111C2}'\u{301}>"]

    @Test func everyScalarOfMarkupIsEscaped() throws {
        let templates = try Templates()
        for text in Self.joined {
            let page = MessagePage(title: text, message: text, hint: text, csrf: String(repeating: "ab", count: 32))
            let html = try #require(templates.library.render(page, withTemplate: "message"))
            let scalars = Array(html.unicodeScalars)
            for (index, scalar) in scalars.enumerated() where ["\u{600}", "\u{D4E}", "\u{111C2}"].contains(scalar) {
                #expect(!"<>\"'".unicodeScalars.contains(scalars[index + 1]), "\(text)")
            }
            for (index, scalar) in scalars.enumerated() where scalar == "\u{301}" {
                #expect(!"<>\"'".unicodeScalars.contains(scalars[index - 1]), "\(text)")
            }
        }
        #expect(HTMLScalars().escapeText("\u{600}<b>\u{301} & \"x\u{301}\" '") == "\u{600}&lt;b&gt;\u{301} &amp; &quot;x\u{301}&quot; &#39;")
    }

    @Test func aPageThatCannotBeMadeIsA500() throws {
        struct Missing: Page { static let template = "none" }
        let response = try Templates().response(Missing())
        #expect(response.status == .internalServerError && response.headers[.contentType] == "text/plain; charset=utf-8")
    }
}
