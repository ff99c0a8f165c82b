import Foundation
import Testing

/// Every field a friend (or someone asking to be one) controls, written as
/// markup, on every page that may show it: escaped where it shows, never raw.
@Suite(.serialized) struct WebEscapingTests {
    /// Each field: its text, and a piece of it that must never reach a page as it is.
    /// Several hold a `<`, `>`, `"` or `'` joined to its neighbour in one grapheme
    /// (after U+0600, U+0D4E or U+111C2, before a combining U+0301).
    static let bobsName = "bob\"\u{301}\u{D4E}<script>alert(1)</script>"
    static let profileName = "<svg onload=alert(2)>\u{D4E}<b\u{301}>"
    static let bio = "<iframe src=javascript:alert(3)> & <i>it's</i>"
    static let bobsAudience = "'\u{301}\u{111C2}><img src=x onerror=alert(4)>"
    static let bobsPost = "<script>alert(5)</script> & \u{600}<u>\u{301}"
    static let bobsComment = "\"><a href=\"javascript:alert(6)\">x</a>"
    static let bobsMessage = "<object data=x>alert(7)</object>"
    static let fileName = "<embed src=alert(8)>.txt"
    static let carolsName = "carol\"<style>alert(9)</style>"
    static let raw = ["<script>alert", "<svg onload", "<iframe", "<img", "<u>", "<a href=\"javascript", "<object", "<embed", "<style>",
                      "\u{600}<", "\u{D4E}<", "\u{111C2}>", "\"\u{301}", "'\u{301}"]

    @Test func everyPageEscapesEveryFieldAFriendControls() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let homes = try people(["alice", "bob"], in: dir, relayURL: relay.url)
        let (alice, bob) = (homes[0], homes[1])
        try kithOK(["friend", "add", "--home", alice, "--as", Self.bobsName, try kithOK(["card", "--home", bob])])
        try kithOK(["friend", "add", "--home", bob, try kithOK(["card", "--home", alice])])
        try kithOK(["profile", "set", "--home", bob, "--name", Self.profileName, "--bio", Self.bio])
        try kithOK(["group", "create", "--home", alice, "family"])
        try kithOK(["group", "add", "--home", alice, "family", Self.bobsName])
        try kithOK(["group", "create", "--home", bob, Self.bobsAudience])
        try kithOK(["group", "add", "--home", bob, Self.bobsAudience, "alice"])
        let file = dir + "/" + Self.fileName
        try Data("a file".utf8).write(to: URL(fileURLWithPath: file))
        let bobsPost = try kithOK(["post", "--home", bob, "--to", Self.bobsAudience, "--file", file, Self.bobsPost])
        let alicesPost = try kithOK(["post", "--home", alice, "--to", "family", "the baby is here"])
        _ = try kith(["sync", "--home", alice])
        _ = try kith(["sync", "--home", bob])
        try kithOK(["comment", "--home", bob, alicesPost, Self.bobsComment])
        try kithOK(["dm", "--home", bob, "alice", Self.bobsMessage])
        _ = try kith(["sync", "--home", bob])
        _ = try kith(["sync", "--home", alice])

        let daemon = try DaemonProcess(home: alice)
        defer { daemon.stop() }
        let browser = try WebAppTests.signedIn(alice)
        // carol asks to be alice's friend, with the name in her card.
        let carol = dir + "/carol"
        try kithOK(["init", "--home", carol, "--name", Self.carolsName, "--relay", relay.url])
        let csrf = try WebAppTests.csrf(try browser.get("/friends").body)
        #expect(try browser.post("/friends/invite", form: [("csrf", csrf), ("expires", "1h")]).status == 303)
        try kithOK(["friend", "add", "--home", carol, try WebPeopleTests.invitation(try browser.get("/friends").body)])
        _ = try kith(["sync", "--home", carol])
        #expect(try eventually(60) { try holds(browser.get("/friends").body, "Accept " + escaped(Self.carolsName)) })
        #expect(try eventually(60) { try holds(browser.get("/").body, escaped(Self.bobsPost)) })

        let bobs = query(Self.bobsName)
        // Each page, with what it must show escaped.
        let pages: [(String, [String])] = [
            ("/", [Self.bobsName, Self.profileName, Self.bobsAudience, Self.bobsPost]),
            ("/?author=" + bobs, [Self.bobsName, Self.bobsPost]),
            ("/?audience=" + query(Self.bobsAudience), [Self.bobsAudience, Self.bobsPost]),
            ("/?author=" + bobs + "&audience=" + query(Self.bobsAudience), [Self.bobsAudience, Self.bobsPost]),
            ("/posts/\(bobsPost)", [Self.bobsName, Self.bobsAudience, Self.bobsPost]),
            ("/posts/\(alicesPost)", [Self.bobsName, Self.bobsComment]),
            ("/friends", [Self.bobsName, Self.profileName, Self.carolsName]),
            ("/friend?name=" + bobs, [Self.bobsName]),
            ("/friend/remove?name=" + bobs, [Self.bobsName]),
            ("/messages", [Self.bobsName, Self.profileName]),
            ("/chat?friend=" + bobs, [Self.bobsName, Self.bobsMessage]),
            ("/audiences", [Self.bobsName]),
            ("/audience?name=family", [Self.bobsName]),
            ("/audience/remove?name=family&friend=" + bobs, [Self.bobsName]),
            ("/status", []),
            ("/profile?friend=" + bobs, [Self.bobsName, Self.profileName, Self.bio]),
        ]
        for (path, shown) in pages {
            let page = try browser.get(path)
            #expect(page.status == 200, "\(path): \(page.body)")
            for field in shown { #expect(holds(page.body, escaped(field)), "\(path) shows \(field.debugDescription) escaped") }
            for piece in Self.raw { #expect(!holds(page.body, piece), "\(path) holds \(piece.debugDescription)") }
            // The file's name is not on these pages; if it ever is, it is escaped. Nor is the bio, but on bob's profile.
            for field in [Self.bio, Self.fileName] { #expect(!holds(page.body, field), "\(path)") }
        }
        // The filter form names bob as he is named, escaped, in its choice and its link.
        let filtered = try browser.get("/?author=" + bobs).body
        #expect(holds(filtered, "<option value=\"\(escaped(Self.bobsName))\" selected>"), "\(filtered)")
        #expect(holds(filtered, "href=\"/?author=\(bobs)\""))
    }

    /// Text as the templates escape it.
    func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A name as a query value, as the pages write it.
    func query(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")) ?? ""
    }
}
