import Foundation
import Testing

/// The web app's friends pages over real HTTP: real daemons, a real relay,
/// three people; the QR code read back by a real decoder (zbarimg).
@Suite(.serialized) struct WebPeopleTests {
    /// `kith friend list --json`, as name → verified.
    static func friends(_ home: String) throws -> [String: Bool] {
        struct Item: Decodable { let name: String; let verified: Bool }
        let items = try JSONDecoder().decode([Item].self, from: Data(try kithOK(["friend", "list", "--home", home, "--json"]).utf8))
        return Dictionary(items.map { ($0.name, $0.verified) }, uniquingKeysWith: { a, _ in a })
    }

    /// The text of the page's invitation box.
    static func invitation(_ page: String) throws -> String {
        let match = try #require(try Regex(#"<textarea id="invitation-text" class="invitation" rows="3" readonly>([^<]*)</textarea>"#).firstMatch(in: page))
        return String(match.output[1].substring ?? "")
    }

    /// The page's QR code (an SVG of rects) drawn as a PGM image, 8 pixels a module, and read by zbarimg.
    static func decodeQR(_ page: String, in dir: String) throws -> String {
        let box = try #require(try Regex(#"viewBox="0 0 ([0-9]+) ([0-9]+)""#).firstMatch(in: page))
        let side = Int(box.output[1].substring ?? "") ?? 0
        #expect(box.output[2].substring == box.output[1].substring)
        #expect((29...185).contains(side), "a QR code of version 1 to 40 with its quiet zone")
        let scale = 8
        var pixels = [UInt8](repeating: 255, count: side * side * scale * scale)
        for rect in page.matches(of: try Regex(##"<rect x="([0-9]+)" y="([0-9]+)" width="([0-9]+)" height="1" fill="#000"/>"##)) {
            let (x, y, width) = (Int(rect.output[1].substring ?? "") ?? 0, Int(rect.output[2].substring ?? "") ?? 0, Int(rect.output[3].substring ?? "") ?? 0)
            #expect(x + width <= side && y < side)
            for row in (y * scale)..<((y + 1) * scale) {
                for column in (x * scale)..<(min(x + width, side) * scale) { pixels[row * side * scale + column] = 0 }
            }
        }
        let file = dir + "/qr.pgm"
        try (Data("P5\n\(side * scale) \(side * scale)\n255\n".utf8) + Data(pixels)).write(to: URL(fileURLWithPath: file))
        let zbar = Process()
        zbar.executableURL = URL(fileURLWithPath: "/usr/bin/zbarimg")
        zbar.arguments = ["--quiet", "--raw", file]
        let out = Pipe()
        zbar.standardOutput = out
        zbar.standardError = FileHandle.nullDevice
        try zbar.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        zbar.waitUntilExit()
        #expect(zbar.terminationStatus == 0, "zbarimg found no QR code")
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
    }

    @Test func invitationQRRequestsVerifyingAndRemoval() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let homes = try people(["alice", "bob"], in: dir, relayURL: relay.url)
        let (alice, bob) = (homes[0], homes[1])
        // carol's own name, in her card, is markup.
        let carolsName = "carol\"\u{301}\u{D4E}<script>alert(1)</script>"
        let carol = dir + "/carol"
        try kithOK(["init", "--home", carol, "--name", carolsName, "--relay", relay.url])
        let aliceDaemon = try DaemonProcess(home: alice)
        defer { aliceDaemon.stop() }
        let bobDaemon = try DaemonProcess(home: bob)
        defer { bobDaemon.stop() }
        let browser = try WebAppTests.signedIn(alice)
        let bobsBrowser = try WebAppTests.signedIn(bob)

        // A node without friends sees the first steps on its feed, with links; they go once it has a friend.
        let start = try browser.get("/").body
        #expect(start.contains("First steps") && start.contains("Your name is <span class=\"name\">alice</span>")
                && start.contains("You have a mailbox on a relay") && start.contains("<a href=\"/friends\">Invite a friend</a>")
                && start.contains("<a href=\"/profile\">"))
        var page = try browser.get("/friends").body
        #expect(page.contains("No friends yet") && page.contains("Make an invitation") && !page.contains("invitation-text"))
        let csrf = try WebAppTests.csrf(page)

        // Refused, with nothing made: no CSRF token, a lifetime the page does not offer.
        #expect(try browser.post("/friends/invite", form: [("expires", "1d")]).status == 403)
        let badLifetime = try browser.post("/friends/invite", form: [("csrf", csrf), ("expires", "99d")])
        #expect(badLifetime.status == 400 && badLifetime.body.contains("Choose how long the invitation works: 1 hour, 1 day, 3 days, 7 days."))
        #expect(try !browser.get("/friends").body.contains("invitation-text"))

        // alice makes an invitation: shown as text and as a QR code that reads back as the same text.
        let made = try browser.post("/friends/invite", form: [("csrf", csrf), ("expires", "1d")])
        #expect(made.status == 303 && made.header("Location") == "/friends#invitation")
        page = try browser.get("/friends").body
        let invitation = try Self.invitation(page)
        #expect(invitation.hasPrefix("kith-invite:\(relay.url)#"), "\(invitation)")
        #expect(try Self.decodeQR(page, in: dir) == invitation)
        #expect(page.contains("Make a new invitation") && !page.contains(" style="))

        // bob pastes it: bad input first, each refused with the command's words and nothing changed.
        let bobsCSRF = try WebAppTests.csrf(try bobsBrowser.get("/friends").body)
        #expect(try bobsBrowser.post("/friends/add", form: [("pasted", invitation)]).status == 403)
        let empty = try bobsBrowser.post("/friends/add", form: [("csrf", bobsCSRF), ("pasted", "  ")])
        #expect(empty.status == 400 && empty.body.contains("Paste an invitation"))
        let broken = try bobsBrowser.post("/friends/add", form: [("csrf", bobsCSRF), ("pasted", String(invitation.dropLast(6)) + "<b>x")])
        let cli = try kith(["friend", "add", "--home", bob, String(invitation.dropLast(6)) + "<b>x"])
        #expect(broken.status == 400 && cli.status != 0, "\(broken.body)")
        let said = try #require(cli.stderr.split(separator: "\n").first.map { $0.replacingOccurrences(of: "kith: error: ", with: "") })
        #expect(holds(broken.body, said.replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
                .replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#39;")), "\(said) in \(broken.body)")
        #expect(try Self.friends(bob).isEmpty)

        let added = try bobsBrowser.post("/friends/add", form: [("csrf", bobsCSRF), ("pasted", "> here it is:\n> " + invitation + "\n"), ("name", "")])
        #expect(added.status == 303 && added.header("Location") == "/friend?name=alice", "\(added.body)")
        #expect(try Self.friends(bob) == ["alice": false])
        let spent = try bobsBrowser.post("/friends/add", form: [("csrf", bobsCSRF), ("pasted", invitation)])
        #expect(spent.status == 400 && spent.body.contains("this invitation was used or has expired"))

        // bob's request reaches alice's page (her daemon syncs); she accepts it there.
        #expect(try eventually(60) { try browser.get("/friends").body.contains("Accept bob") })
        page = try browser.get("/friends").body
        let fingerprint = try #require(try Regex(#"name="friend" value="([^"]+)"><button type="submit">Accept bob"#).firstMatch(in: page)).output[1].substring ?? ""
        #expect(try browser.post("/friends/accept", form: [("friend", String(fingerprint))]).status == 403)
        #expect(try browser.post("/friends/accept", form: [("csrf", csrf), ("friend", "nobody")]).status == 400)
        let accepted = try browser.post("/friends/accept", form: [("csrf", csrf), ("friend", String(fingerprint))])
        #expect(accepted.status == 303 && accepted.header("Location") == "/friend?name=bob")
        #expect(try Self.friends(alice) == ["bob": false])
        #expect(try !browser.get("/").body.contains("First steps"))

        // The safety number, the same as the command's and on both sides; the verified mark set from the page.
        let bobsPage = try browser.get("/friend?name=bob").body
        let number = try #require(try kithOK(["friend", "verify", "--home", alice, "bob"]).split(separator: "\n").first)
        #expect(bobsPage.contains("<code>\(number)</code>") && bobsPage.contains("Compare it in person or by a call"))
        #expect(try bobsBrowser.get("/friend?name=alice").body.contains("<code>\(number)</code>"))
        #expect(try browser.post("/friend/verify", form: [("friend", "bob"), ("mark", "confirm")]).status == 403)
        #expect(try browser.post("/friend/verify", form: [("csrf", csrf), ("friend", "bob"), ("mark", "yes")]).status == 400)
        #expect(try Self.friends(alice) == ["bob": false])
        #expect(try browser.post("/friend/verify", form: [("csrf", csrf), ("friend", "bob"), ("mark", "confirm")]).header("Location") == "/friend?name=bob")
        #expect(try Self.friends(alice) == ["bob": true])
        #expect(try browser.get("/friends").body.contains("✓ verified"))

        // An unknown friend: the node's refusal, nothing changed.
        let unknown = try browser.get("/friend?name=nobody")
        #expect(unknown.status == 400 && unknown.body.contains("nobody"), "\(unknown.body)")
        #expect(try browser.get("/friend").status == 400)
        #expect(try browser.post("/friend/verify", form: [("csrf", csrf), ("friend", "nobody"), ("mark", "confirm")]).status == 400)
        #expect(try browser.post("/friend/remove", form: [("csrf", csrf), ("friend", "nobody")]).status == 400)

        // carol answers a second invitation: her request, its name escaped, declined from the page.
        #expect(try browser.post("/friends/invite", form: [("csrf", csrf), ("expires", "1h")]).status == 303)
        let second = try Self.invitation(try browser.get("/friends").body)
        #expect(second != invitation)
        try kithOK(["friend", "add", "--home", carol, second])
        _ = try kith(["sync", "--home", carol])
        let escaped = "carol&quot;\u{301}\u{D4E}&lt;script&gt;alert(1)&lt;/script&gt;"
        #expect(try eventually(60) { try holds(browser.get("/friends").body, "Accept \(escaped)") })
        let request = try #require(try JSONDecoder().decode([[String: String]].self,
                                                            from: Data(try kithOK(["friend", "requests", "--home", alice, "--json"]).utf8)).first)
        #expect(try browser.post("/friends/decline", form: [("friend", request["fingerprint"] ?? "")]).status == 403)
        #expect(try browser.post("/friends/decline", form: [("csrf", csrf), ("friend", request["fingerprint"] ?? "")]).header("Location") == "/friends")
        #expect(try JSONDecoder().decode([[String: String]].self, from: Data(try kithOK(["friend", "requests", "--home", alice, "--json"]).utf8)).isEmpty)
        #expect(try Self.friends(alice).keys.sorted() == ["bob"])

        // carol's card pasted on alice's page: her name is shown escaped everywhere.
        let card = try kithOK(["card", "--home", carol])
        #expect(try browser.post("/friends/add", form: [("csrf", csrf), ("pasted", card)]).status == 303)
        let carolPath = "/friend?name=" + (carolsName.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")) ?? "")
        for path in ["/friends", carolPath, carolPath.replacingOccurrences(of: "/friend?", with: "/friend/remove?")] {
            let shown = try browser.get(path)
            #expect(shown.status == 200 && holds(shown.body, escaped), "\(path)")
            for raw in ["<script>alert", "\u{D4E}<", "\"\u{301}"] { #expect(!holds(shown.body, raw), "\(path): \(raw)") }
        }

        // Removal: a page that says what it means first, then the form.
        try kithOK(["group", "create", "--home", alice, "family"])
        try kithOK(["group", "add", "--home", alice, "family", "bob"])
        let confirm = try browser.get("/friend/remove?name=bob").body
        #expect(confirm.contains("bob leaves “family”") && confirm.contains("bob keeps the posts they already have")
                && confirm.contains("cannot read anything you post there from now on") && confirm.contains("Nothing more is sent to bob."))
        #expect(try browser.post("/friend/remove", form: [("friend", "bob")]).status == 403)
        #expect(try Self.friends(alice)["bob"] == true)
        #expect(try browser.post("/friend/remove", form: [("csrf", csrf), ("friend", "bob")]).header("Location") == "/friends")
        #expect(try Self.friends(alice)["bob"] == nil)
        #expect(try kithOK(["group", "list", "--home", alice]).contains("family") && !(try kithOK(["group", "list", "--home", alice]).contains("bob")))
    }

    @Test func directMessagesLiveAndEscaped() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let homes = try people(["alice", "bob", "carol"], in: dir, relayURL: relay.url)
        let (alice, bob, carol) = (homes[0], homes[1], homes[2])
        // The name alice gives bob, and what bob writes, are markup.
        let bobsName = "bob\"\u{301}\u{D4E}<script>alert(1)</script>"
        let bobsMessage = "<img src=x onerror=alert(2)> & \u{600}<b>hi</b>\u{301}"
        try kithOK(["friend", "add", "--home", alice, "--as", bobsName, try kithOK(["card", "--home", bob])])
        try kithOK(["friend", "add", "--home", bob, try kithOK(["card", "--home", alice])])
        try befriend(alice, carol)
        // bob's own name for himself, in his profile, is markup too.
        try kithOK(["profile", "set", "--home", bob, "--name", "<svg onload=alert(3)>\u{D4E}<b\u{301}>"])
        _ = try kith(["sync", "--home", bob])
        let daemon = try DaemonProcess(home: alice)
        defer { daemon.stop() }
        let browser = try WebAppTests.signedIn(alice)
        let profileName = "(calls themself “&lt;svg onload=alert(3)&gt;\u{D4E}&lt;b\u{301}&gt;”)"
        #expect(try eventually(60) { try holds(browser.get("/messages").body, profileName) })
        for path in ["/friends", "/messages"] {
            let shown = try browser.get(path).body
            #expect(holds(shown, profileName), "\(path)")
            for raw in ["<svg", "<script>alert", "\u{D4E}<", "<b\u{301}"] { #expect(!holds(shown, raw), "\(path): \(raw)") }
        }
        let list = try browser.get("/messages").body
        let bobsPath = "/chat?friend=" + (bobsName.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")) ?? "")
        #expect(list.contains("href=\"\(bobsPath)\"") && list.contains("href=\"/chat?friend=carol\""), "\(list)")
        let empty = try browser.get(bobsPath).body
        #expect(empty.contains("No direct messages with"))
        let csrf = try WebAppTests.csrf(empty)

        // Refused, nothing sent: no CSRF token, an empty message, an unknown friend.
        #expect(try browser.post("/chat", form: [("friend", bobsName), ("text", "hello")]).status == 403)
        #expect(try browser.post("/chat", form: [("csrf", csrf), ("friend", bobsName), ("text", " \n ")]).body.contains("The message is empty"))
        let unknown = try browser.post("/chat", form: [("csrf", csrf), ("friend", "nobody"), ("text", "hello")])
        #expect(unknown.status == 400 && unknown.body.contains("nobody"))
        #expect(try browser.get("/chat?friend=nobody").status == 400)
        _ = try kith(["sync", "--home", bob])

        // alice writes from the page; bob reads it with `kith chat`, carol sees nothing.
        let sent = try browser.post("/chat", form: [("csrf", csrf), ("friend", bobsName), ("text", "hello bob,\r\nfrom the web")])
        #expect(sent.status == 303 && sent.header("Location") == bobsPath + "#write")
        #expect(try eventually(60) { _ = try kith(["sync", "--home", bob]); return try kithOK(["chat", "--home", bob, "alice"]).contains("from the web") })
        _ = try kith(["sync", "--home", carol])
        #expect(try !kithOK(["feed", "--home", carol, "--all"]).contains("from the web"))

        // bob answers: an event on the stream, then the message on the page, in order and escaped.
        let stream = try WebSocket(port: browser.port)
        defer { close(stream.fd) }
        try stream.write(Data("GET /events HTTP/1.1\r\nHost: \(browser.host)\r\nCookie: kith_session=\(browser.cookies["kith_session"] ?? "")\r\n\r\n".utf8))
        _ = stream.read { String(decoding: $0, as: UTF8.self).contains("retry: ") }
        try kithOK(["dm", "--home", bob, "alice", bobsMessage])
        _ = try kith(["sync", "--home", bob])
        let event = String(decoding: stream.read { String(decoding: $0, as: UTF8.self).contains("event: feed\n") }, as: UTF8.self)
        #expect(event.contains("event: feed\ndata: changed\n"))
        // The page's script refreshing it (`live=1`) shows bob's message as new and leaves it so; loading the page reads it.
        // (The event may be an earlier one of alice's own syncs: the message is waited for.)
        #expect(try eventually(60) { try browser.get(bobsPath + "&live=1").body.contains("chat-message unread") })
        #expect(try browser.get(bobsPath + "&live=1").body.contains("chat-message unread"), "still unread")
        let page = try browser.get(bobsPath).body
        #expect(page.contains("chat-message unread"))
        #expect(try WebAppTests.liveEvents(page).hasPrefix("/events?since="), "the conversation listens for new messages")
        #expect(try !browser.get(bobsPath).body.contains("chat-message unread"), "read once shown")
        let mine = try #require(page.range(of: "hello bob,\nfrom the web"))
        let theirs = try #require(page.range(of: "&lt;img src=x onerror=alert(2)&gt; &amp; \u{600}&lt;b&gt;hi&lt;/b&gt;\u{301}"))
        #expect(mine.lowerBound < theirs.lowerBound, "oldest first")
        #expect(holds(page, "bob&quot;\u{301}\u{D4E}&lt;script&gt;alert(1)&lt;/script&gt;"))
        for raw in ["<script>alert", "<img", "<b>hi", "\u{600}<", "\u{D4E}<", "\"\u{301}"] { #expect(!holds(page, raw), "\(raw)") }
        #expect(page.contains("<span class=\"author\">you</span>") && !page.contains(" attached ("))
    }

    @Test func audiencesMembersAddedAndRemovedWithTheirMeaning() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let homes = try people(["alice", "bob", "carol"], in: dir, relayURL: relay.url)
        let (alice, bob, carol) = (homes[0], homes[1], homes[2])
        let bobsName = "bob\"\u{301}\u{D4E}<script>alert(1)</script>"
        try kithOK(["friend", "add", "--home", alice, "--as", bobsName, try kithOK(["card", "--home", bob])])
        try kithOK(["friend", "add", "--home", bob, try kithOK(["card", "--home", alice])])
        try befriend(alice, carol)
        let daemon = try DaemonProcess(home: alice)
        defer { daemon.stop() }
        let browser = try WebAppTests.signedIn(alice)
        var page = try browser.get("/audiences").body
        #expect(page.contains("You have no audience yet."))
        let csrf = try WebAppTests.csrf(page)

        // Refused, nothing made: no CSRF token, no name, no answer about sharing members, a name the node refuses.
        #expect(try browser.post("/audiences", form: [("audience", "family"), ("share", "yes")]).status == 403)
        #expect(try browser.post("/audiences", form: [("csrf", csrf), ("audience", ""), ("share", "yes")]).status == 400)
        #expect(try browser.post("/audiences", form: [("csrf", csrf), ("audience", "family"), ("share", "maybe")]).status == 400)
        #expect(try browser.post("/audiences", form: [("csrf", csrf), ("audience", " family"), ("share", "yes")]).status == 400)
        #expect(try kithOK(["group", "list", "--home", alice]).isEmpty)
        let created = try browser.post("/audiences", form: [("csrf", csrf), ("audience", "family"), ("share", "yes")])
        #expect(created.status == 303 && created.header("Location") == "/audience?name=family")
        #expect(try kithOK(["group", "list", "--home", alice]) == "family: (no members)")

        // Its page offers every friend, escaped, with what adding means said before it is done.
        page = try browser.get("/audience?name=family").body
        let escaped = "bob&quot;\u{301}\u{D4E}&lt;script&gt;alert(1)&lt;/script&gt;"
        #expect(holds(page, "<option value=\"\(escaped)\">\(escaped)</option>") && page.contains("<option value=\"carol\">carol</option>"))
        #expect(page.contains("reads what you post to it from now on, not what you posted before"))
        #expect(try browser.get("/audience?name=nobody").status == 400)
        #expect(try browser.post("/audience/add", form: [("audience", "family"), ("friend", bobsName)]).status == 403)
        #expect(try browser.post("/audience/add", form: [("csrf", csrf), ("audience", "family"), ("friend", "nobody")]).status == 400)
        #expect(try browser.post("/audience/add", form: [("csrf", csrf), ("audience", "nobody"), ("friend", "carol")]).status == 400)
        #expect(try kithOK(["group", "list", "--home", alice]) == "family: (no members)")
        for friend in [bobsName, "carol"] {
            #expect(try browser.post("/audience/add", form: [("csrf", csrf), ("audience", "family"), ("friend", friend)]).header("Location") == "/audience?name=family")
        }
        try kithOK(["post", "--home", alice, "--to", "family", "before bob left"])
        #expect(try eventually(60) { _ = try kith(["sync", "--home", bob]); return try feed(bob).map(\.text) == ["before bob left"] })

        // Removing: a page that says what it means, then the form.
        page = try browser.get("/audiences").body
        #expect(holds(page, "(you and \(escaped), carol)"))
        let path = try #require(try Regex(#"href="(/audience/remove\?name=family&amp;friend=[^"]+)""#).firstMatch(in: try browser.get("/audience?name=family").body))
        let confirm = try browser.get(String(path.output[1].substring ?? "").replacingOccurrences(of: "&amp;", with: "&"))
        #expect(confirm.status == 200 && holds(confirm.body, "\(escaped) keeps the posts they already have, and cannot read anything you post to it from now on"))
        for raw in ["<script>alert", "\u{D4E}<", "\"\u{301}"] { #expect(!holds(confirm.body, raw) && !holds(page, raw), "\(raw)") }
        #expect(try browser.get("/audience/remove?name=family&friend=nobody").status == 400)
        #expect(try browser.post("/audience/remove", form: [("audience", "family"), ("friend", bobsName)]).status == 403)
        #expect(try browser.post("/audience/remove", form: [("csrf", csrf), ("audience", "family"), ("friend", bobsName)]).status == 303)
        #expect(try kithOK(["group", "list", "--home", alice]) == "family: carol")
        try kithOK(["post", "--home", alice, "--to", "family", "after bob left"])
        #expect(try eventually(60) { _ = try kith(["sync", "--home", carol]); return try feed(carol).count == 2 })
        _ = try kith(["sync", "--home", bob])
        #expect(try feed(bob).map(\.text) == ["before bob left"], "bob keeps what he had and reads nothing after")
    }

    @Test func statusSaysWhatWaitsAndWhy() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let url = relay.url
        let homes = try people(["alice", "bob", "carol"], in: dir, relayURL: url)
        let (alice, bob, carol) = (homes[0], homes[1], homes[2])
        let bobsName = "bob\"\u{301}\u{D4E}<script>alert(1)</script>"
        try kithOK(["friend", "add", "--home", alice, "--as", bobsName, try kithOK(["card", "--home", bob])])
        try befriend(alice, carol)
        try kithOK(["group", "create", "--home", alice, "family"])
        for member in [bobsName, "carol"] { try kithOK(["group", "add", "--home", alice, "family", member]) }
        _ = try kith(["sync", "--home", alice])
        let daemon = try DaemonProcess(home: alice)
        defer { daemon.stop() }
        let browser = try WebAppTests.signedIn(alice)
        var page = try browser.get("/status").body
        #expect(page.contains("<code>\(url)</code> (your mailbox): reached: last synced "), "\(page)")
        #expect(page.contains("Nothing: everything you sent has reached the relays."))
        #expect(try #require(try Regex(#"Your encryption key is replaced every [0-9]+ days, next at the first sync after "#).firstMatch(in: page)).output.count > 0)

        // The relay goes away: the post waits, for each friend, with the reason the last attempt failed.
        _ = relay.stop()
        try kithOK(["post", "--home", alice, "--to", "family", "while the relay is down"])
        #expect(try eventually(60) { try browser.get("/status").body.contains("the last attempt failed: ") })
        page = try browser.get("/status").body
        #expect(holds(page, "1 delivery for bob&quot;\u{301}\u{D4E}&lt;script&gt;alert(1)&lt;/script&gt; on \(url), next attempt "), "\(page)")
        #expect(page.contains("1 delivery for carol on \(url)") && page.contains("last error "))
        for raw in ["<script>alert", "\u{D4E}<", "\"\u{301}"] { #expect(!holds(page, raw), "\(raw)") }
        #expect(try WebBrowser(name: browser.name, port: browser.port).get("/status").status == 303, "signed in only")
    }
}
