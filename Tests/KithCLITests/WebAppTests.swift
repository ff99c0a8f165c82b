import Foundation
import Testing

/// The daemon's web app over real HTTP: real daemons, a real relay, the
/// real `kith` binary for everything a friend does.
@Suite(.serialized) struct WebAppTests {
    /// A daemon whose web app listens on a free loopback port.
    static func daemon(_ home: String) throws -> DaemonProcess { try DaemonProcess(home: home) }

    /// `kith open`'s link: the app's host name, its port and the token.
    static func login(_ home: String) throws -> (name: String, port: Int, token: String) {
        let url = try kithOK(["open", "--home", home, "--no-browser"])
        let match = try #require(try Regex(#"^http://([0-9a-f]{20}\.localhost):([0-9]+)/login\?token=([0-9a-f]{64})$"#).wholeMatch(in: url))
        return (String(match.output[1].substring ?? ""), try #require(Int(match.output[2].substring ?? "")), String(match.output[3].substring ?? ""))
    }

    /// A signed-in browser for `home`'s web app.
    static func signedIn(_ home: String) throws -> WebBrowser {
        let (name, port, token) = try login(home)
        let browser = WebBrowser(name: name, port: port)
        #expect(try browser.get("/login?token=\(token)").status == 200)
        return browser
    }

    /// The CSRF token in a page's forms.
    static func csrf(_ page: String) throws -> String {
        let match = try #require(try Regex(#"name="csrf" value="([0-9a-f]{64})""#).firstMatch(in: page))
        return String(match.output[1].substring ?? "")
    }

    /// Where a page's live part opens its stream of events (`data-live`).
    static func liveEvents(_ page: String) throws -> String {
        let match = try #require(try Regex(#"data-live="(/events\?since=[0-9]+)""#).firstMatch(in: page))
        return String(match.output[1].substring ?? "")
    }

    @Test func onlyTheOwnerCanReadOrAct() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let (alice, bob) = try aliceBobAndFamily(in: dir, relayURL: relay.url)
        try kithOK(["post", "--home", alice, "--to", "family", "secret plans"])

        // No daemon, no web app; a bad address is refused before the daemon starts.
        let none = try kith(["open", "--home", alice])
        #expect(none.status != 0 && none.stderr.contains("kith: error: no daemon runs for this node"), "\(none.stderr)")
        // Only the loopback addresses as such: a name like localhost resolves to both, and only one would be held.
        for listen in ["0.0.0.0:8484", "localhost:8484", "LOCALHOST:8484", "::1:8484", "127.0.0.2:8484", "[::ffff:127.0.0.1]:8484", "127.0.0.1:08484"] {
            let wide = try kith(["daemon", "--home", bob], env: ["KITH_WEB_LISTEN": listen])
            #expect(wide.status != 0 && wide.stderr.contains("KITH_WEB_LISTEN must be 127.0.0.1:PORT or [::1]:PORT"), "\(listen): \(wide.stderr)")
        }
        // [::1] is bound as it is, and nothing on 127.0.0.1.
        var six = DaemonProcess.quick
        six["KITH_WEB_LISTEN"] = "[::1]:0"
        let bobSix = try DaemonProcess(home: bob, env: six)
        let sixPort = try Self.login(bob).port
        let hex = ":" + String(format: "%04X", sixPort)
        func listeners(_ table: String) throws -> [String] {
            try String(contentsOfFile: table, encoding: .utf8).split(separator: "\n").compactMap {
                let fields = $0.split(separator: " ")
                return fields.count > 3 && fields[1].hasSuffix(hex) && fields[3] == "0A" ? String(fields[1]) : nil
            }
        }
        #expect(try listeners("/proc/net/tcp6") == ["00000000000000000000000001000000" + hex])
        #expect(try listeners("/proc/net/tcp").isEmpty)
        bobSix.stop()
        var off = DaemonProcess.quick
        off["KITH_WEB_ENABLED"] = "false"
        let bobDaemon = try DaemonProcess(home: bob, env: off)
        #expect(try kith(["open", "--home", bob]).stderr.contains("kith: error: the web app is off"))
        bobDaemon.stop()

        var daemon = try Self.daemon(alice)
        defer { daemon.stop() }
        let (name, port, token) = try Self.login(alice)
        // The app's own host name, kept in the node directory for the next start.
        let nameFile = alice + "/web-host"
        #expect(try String(contentsOfFile: nameFile, encoding: .utf8) == String(name.prefix(20)) + "\n")
        #expect((try FileManager.default.attributesOfItem(atPath: nameFile)[.posixPermissions] as? Int) == 0o600)

        // A port already taken (here by alice's daemon): bob's daemon runs without its web app, and says so.
        var taken = DaemonProcess.quick
        taken["KITH_WEB_LISTEN"] = "127.0.0.1:\(port)"
        let squatted = try DaemonProcess(home: bob, env: taken)
        let busy = try kith(["open", "--home", bob])
        #expect(busy.status != 0 && busy.stderr.contains("kith: error: the web app is not running: 127.0.0.1:\(port) is in use by another program"),
                "\(busy.stderr)")
        squatted.stop()

        // Browsers send NAME.localhost to ::1 as well: the daemon holds the same port there, and serves nothing when
        // another program holds it first.
        #expect(WebSocket.bind6(port: port) == nil, "[::1]:\(port) is held by alice's daemon")
        let other = try #require(WebSocket.bind6(port: 0))
        defer { close(other.fd) }
        var beside = DaemonProcess.quick
        beside["KITH_WEB_LISTEN"] = "127.0.0.1:\(other.port)"
        let besideDaemon = try DaemonProcess(home: bob, env: beside)
        let held = try kith(["open", "--home", bob])
        #expect(held.status != 0 && held.stderr.contains("[::1]:\(other.port) is in use by another program"), "\(held.stderr)")
        besideDaemon.stop()

        // The listener is on loopback only: 127.0.0.1 in the kernel's table of listening sockets.
        let listening = try String(contentsOfFile: "/proc/net/tcp", encoding: .utf8).split(separator: "\n").filter {
            let fields = $0.split(separator: " ")
            return fields.count > 3 && fields[1].hasSuffix(":" + String(format: "%04X", port)) && fields[3] == "0A"
        }
        #expect(listening.count == 1 && listening.first?.split(separator: " ")[1] == "0100007F:" + String(format: "%04X", port), "\(listening)")

        // Without a session: sent to a page that says how to sign in, and nothing of the node's.
        let stranger = WebBrowser(name: name, port: port)
        let home = try stranger.get("/")
        #expect(home.status == 303 && home.header("Location") == "/welcome")
        #expect(!home.body.contains("secret plans"))
        let welcome = try stranger.get("/welcome")
        #expect(welcome.status == 200 && welcome.body.contains("run `kith open`") && !welcome.body.contains("secret plans"))
        #expect(try stranger.get("/posts/0123456789abcdef").status == 303)

        // A wrong Host (DNS rebinding: a site whose name points at 127.0.0.1; the loopback address itself, which every
        // server on any port of it shares cookies with) is refused before anything else: the login token is not even looked at.
        for host in ["evil.example:\(port)", "127.0.0.1:\(port)", "localhost:\(port)", "[::1]:\(port)", "127.0.0.1",
                     "\(name):\(port + 1)", name, "other.localhost:\(port)", "\(name).evil.example:\(port)"] {
            let refused = try stranger.get("/login?token=\(token)", host: host)
            #expect(refused.status == 421 && stranger.cookies.isEmpty, "\(host)")
        }

        // The token signs one browser in, once.
        let owner = WebBrowser(name: name, port: port)
        // Not a redirect but a page of the app that moves on to the feed, so that the browser sends the new cookie with the
        // next request even when the chain began on kith open's forwarding page (a file: another site).
        let login = try owner.get("/login?token=\(token)")
        #expect(login.status == 200 && login.header("Location") == nil, "\(login.status)")
        #expect(login.body.contains(#"<meta http-equiv="refresh" content="0;url=/">"#) && login.body.contains(#"<a href="/">Continue</a>"#))
        let cookie = try #require(login.header("Set-Cookie"))
        #expect(cookie.hasPrefix("kith_session=") && cookie.contains("; HttpOnly") && cookie.contains("; SameSite=Strict")
                && cookie.contains("; Path=/") && !cookie.contains("Secure") && !cookie.contains(token))
        let again = WebBrowser(name: name, port: port)
        let spent = try again.get("/login?token=\(token)")
        #expect(spent.status == 403 && spent.body.contains("Run `kith open` again") && again.cookies.isEmpty)
        #expect(try again.get("/").status == 303, "another browser profile has no session")
        let forged = WebBrowser(name: name, port: port)
        forged.cookies["kith_session"] = String(repeating: "ab", count: 32)
        #expect(try forged.get("/").status == 303)

        // The owner's page, with the headers every answer has.
        let feed = try owner.get("/")
        #expect(feed.status == 200 && feed.body.contains("secret plans"))
        #expect(feed.header("Content-Security-Policy") == "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                + "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        #expect(feed.header("X-Content-Type-Options") == "nosniff" && feed.header("Referrer-Policy") == "same-origin")
        #expect(feed.header("Cache-Control") == "no-store")
        #expect(!feed.body.contains("<script>") && !feed.body.contains(" style=") && !feed.body.contains(" onclick="), "no inline script or style")
        for asset in ["/static/kith.css", "/static/kith.js"] {
            let answer = try stranger.get(asset)
            #expect(answer.status == 200 && answer.header("Content-Security-Policy") != nil && !answer.body.contains("http"), "\(asset)")
        }
        for host in ["evil.example:\(port)", "127.0.0.1:\(port)"] {
            let wrongHost = try owner.get("/", host: host)
            #expect(wrongHost.status == 421 && !wrongHost.body.contains("secret plans"), "a valid cookie with Host \(host)")
        }

        // Forms: a missing or wrong CSRF token, another site's Origin, or no session change nothing.
        let csrf = try Self.csrf(feed.body)
        func posts() throws -> [String] { try feedPosts(alice, as: FeedItem.self).map(\.text) }
        let before = try posts()
        let refusals: [(WebBrowser, [(String, String)], [String: String])] = [
            (owner, [("text", "no token"), ("audience", "family")], [:]),
            (owner, [("csrf", String(repeating: "0", count: 64)), ("text", "wrong token"), ("audience", "family")], [:]),
            (owner, [("csrf", csrf), ("text", "cross-site"), ("audience", "family")], ["Origin": "https://evil.example"]),
            (owner, [("csrf", csrf), ("text", "rebound"), ("audience", "family")], ["Origin": "http://evil.example:\(port)"]),
            (owner, [("csrf", csrf), ("text", "other port"), ("audience", "family")], ["Origin": "http://127.0.0.1:\(port)"]),
            (stranger, [("csrf", csrf), ("text", "no session"), ("audience", "family")], [:]),
        ]
        for (browser, form, headers) in refusals {
            #expect(try browser.post("/posts", form: form, headers: headers).status == 403, "\(form)")
        }
        #expect(try owner.post("/logout", form: []).status == 403)
        #expect(try posts() == before)

        // The real thing, from the app's own page.
        let posted = try owner.post("/posts", form: [("csrf", csrf), ("text", "from the browser"), ("audience", "family")],
                                    headers: ["Origin": "http://\(name):\(port)"])
        #expect(posted.status == 303 && posted.header("Location") == "/")
        #expect(try posts() == ["from the browser"] + before)

        // With a desktop, the browser gets a page in the node directory that only alice can read, never the token itself
        // (other users see every command line). Here a stand-in for xdg-open notes what it was given.
        let bin = dir + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try "#!/bin/sh\necho \"$@\" > \(dir)/opened\n".write(toFile: bin + "/xdg-open", atomically: true, encoding: .utf8)
        chmod(bin + "/xdg-open", 0o755)
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let shown = try kithOK(["open", "--home", alice], env: ["DISPLAY": ":9", "PATH": bin + ":" + path])
        #expect(try eventually(30) { FileManager.default.fileExists(atPath: dir + "/opened") })
        let opened = try String(contentsOfFile: dir + "/opened", encoding: .utf8)
        let loginPage = URL(fileURLWithPath: alice).standardizedFileURL.appendingPathComponent("web-login.html")
        #expect(opened == loginPage.absoluteString + "\n" && !opened.contains(shown.split(separator: "=").last ?? "-"))
        let forwarding = try String(contentsOf: loginPage, encoding: .utf8)
        #expect(forwarding.contains("<meta http-equiv=\"refresh\" content=\"0;url=\(shown)\">"))
        #expect((try FileManager.default.attributesOfItem(atPath: loginPage.path)[.posixPermissions] as? Int) == 0o600)
        // A page whose link was not used goes at the next kith open; one whose link is spent goes at once.
        try kithOK(["open", "--home", alice, "--no-browser"])
        #expect(!FileManager.default.fileExists(atPath: loginPage.path))
        let used = try kithOK(["open", "--home", alice], env: ["DISPLAY": ":9", "PATH": bin + ":" + path])
        #expect(FileManager.default.fileExists(atPath: loginPage.path))
        #expect(try WebBrowser(name: name, port: port).get("/login?token=" + (used.split(separator: "=").last ?? "")).status == 200)
        #expect(!FileManager.default.fileExists(atPath: loginPage.path))

        // Signing out ends the session.
        #expect(try owner.post("/logout", form: [("csrf", csrf)]).status == 303)
        #expect(try owner.get("/").status == 303)

        // The next daemon serves the app under the same name; a name file that is not one stops the daemon, and says why.
        daemon.stop()
        daemon = try Self.daemon(alice)
        #expect(try Self.login(alice).name == name)
        daemon.stop()
        try "not a name\n".write(toFile: nameFile, atomically: false, encoding: .utf8)
        let badName = try kith(["daemon", "--home", alice])
        #expect(badName.status != 0 && badName.stderr.contains("web-host does not hold the web app's host name"), "\(badName.stderr)")
        #expect(try String(contentsOfFile: nameFile, encoding: .utf8) == "not a name\n")
    }

    @Test func feedPostsAndCommentsEscapeWhatFriendsWrite() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let homes = try people(["alice", "bob", "carol"], in: dir, relayURL: relay.url)
        let (alice, bob, carol) = (homes[0], homes[1], homes[2])
        // Everything bob controls, and the name alice gave him, is markup; each also holds a `<`, `>`, `"` or `'`
        // joined to its neighbour in one grapheme (after U+0600, U+0D4E or U+111C2, before a combining U+0301),
        // which an escaper that looks at whole characters lets through.
        let bobsName = "bob\"\u{301}\u{D4E}<script>alert(1)</script>"
        let profileName = "<svg onload=alert(2)>\u{D4E}<b\u{301}>"
        let bobsAudience = "'\u{301}\u{111C2}><img src=x onerror=alert(3)>"
        let bobsPost = "<script>alert(4)</script> & <b>bold</b> \u{600}<meta http-equiv=refresh content=0;url=/logout>\u{301}"
        let bobsComment = #""><img src=x onerror=alert(5)><a href="javascript:alert(6)">x</a>"#
            + " \u{600}<form method=post action=/posts>\u{301}\u{600}<input type=hidden name=audience value=Family>\u{301}"
        try kithOK(["friend", "add", "--home", alice, "--as", bobsName, try kithOK(["card", "--home", bob])])
        try kithOK(["friend", "add", "--home", bob, try kithOK(["card", "--home", alice])])
        try befriend(alice, carol)
        try kithOK(["profile", "set", "--home", bob, "--name", profileName])
        try kithOK(["group", "create", "--home", alice, "family"])
        for member in [bobsName, "carol"] { try kithOK(["group", "add", "--home", alice, "family", member]) }
        try kithOK(["group", "create", "--home", bob, bobsAudience])
        try kithOK(["group", "add", "--home", bob, bobsAudience, "alice"])
        _ = try kith(["sync", "--home", bob])

        let daemon = try Self.daemon(alice)
        defer { daemon.stop() }
        let browser = try Self.signedIn(alice)

        // Live updates: a stream of events, told when bob's post arrives; each event's id is the count of changes.
        let pageBefore = try Self.liveEvents(try browser.get("/").body)
        /// A stream of events opened at `path`, read until its first event or the comment that keeps it open (30 s on).
        func firstOf(_ path: String, lastEventID: String? = nil) throws -> String {
            let socket = try WebSocket(port: browser.port)
            defer { close(socket.fd) }
            try socket.write(Data(("GET \(path) HTTP/1.1\r\nHost: \(browser.host)\r\nCookie: kith_session=\(browser.cookies["kith_session"] ?? "")\r\n"
                                   + (lastEventID.map { "Last-Event-ID: \($0)\r\n" } ?? "") + "\r\n").utf8))
            return String(decoding: socket.read { ["event: feed\n", ": still here", "HTTP/1.1 4"].contains(where: String(decoding: $0, as: UTF8.self).contains) },
                          as: UTF8.self)
        }
        let stream = try WebSocket(port: browser.port)
        defer { close(stream.fd) }
        try stream.write(Data("GET /events HTTP/1.1\r\nHost: \(browser.host)\r\nCookie: kith_session=\(browser.cookies["kith_session"] ?? "")\r\n\r\n".utf8))
        let opened = String(decoding: stream.read { String(decoding: $0, as: UTF8.self).contains("retry: ") }, as: UTF8.self)
        #expect(opened.hasPrefix("HTTP/1.1 200") && opened.contains("text/event-stream"), "\(opened)")
        let bobPost = try kithOK(["post", "--home", bob, "--to", bobsAudience, bobsPost])
        _ = try kith(["sync", "--home", bob])
        let event = String(decoding: stream.read { String(decoding: $0, as: UTF8.self).contains("event: feed\n") }, as: UTF8.self)
        #expect(try Regex(#"id: [1-9][0-9]*\nevent: feed\ndata: changed\n"#).firstMatch(in: event) != nil, "\(event)")
        // A page made before the post, whose stream opens only now, hears of it at once: its notice went out before.
        let late = try firstOf(pageBefore)
        #expect(late.hasPrefix("HTTP/1.1 200") && late.contains("event: feed\ndata: changed\n"), "\(late)")
        let pageAfter = try Self.liveEvents(try browser.get("/?live=1").body)
        #expect(pageAfter != pageBefore, "\(pageAfter)")
        // A browser reconnecting gives the id of the last event it had, which counts before the page's count.
        let before = String(pageBefore.split(separator: "=").last ?? "")
        let reconnected = try firstOf(pageAfter, lastEventID: before)
        #expect(reconnected.hasPrefix("HTTP/1.1 200") && reconnected.contains("event: feed\ndata: changed\n"), "\(reconnected)")
        for since in ["x", "-1", "1e3", String(repeating: "9", count: 40)] {
            #expect(try browser.get("/events?since=" + since).status == 400, "\(since)")
            #expect(try firstOf("/events", lastEventID: since).hasPrefix("HTTP/1.1 400"), "\(since)")
        }
        // The script's fetch (?live=1) leaves the new post unread; loading the page marks it read.
        let unreadPost = "<article class=\"post unread\" id=\"post-\(bobPost)\""
        #expect(try browser.get("/?live=1").body.contains(unreadPost))
        #expect(try browser.get("/?live=1").body.contains(unreadPost), "still unread")
        #expect(try browser.get("/?live=yes").status == 400)
        #expect(try browser.get("/").body.contains(unreadPost))
        #expect(try !browser.get("/?live=1").body.contains(unreadPost), "read once the page was loaded")
        #expect(try Self.liveEvents(try browser.get("/posts/\(bobPost)").body).hasPrefix("/events?since="), "a post's page listens too")
        #expect(try WebBrowser(name: browser.name, port: browser.port).get("/events").status == 303)

        // The composer shows each audience with who reads it; a post from it reaches bob and carol.
        let composer = try browser.get("/").body
        let csrf = try Self.csrf(composer)
        #expect(composer.contains(#"<input type="radio" name="audience" id="audience-1" value="family" checked>"#))
        #expect(holds(composer, "(you and bob&quot;\u{301}\u{D4E}&lt;script&gt;alert(1)&lt;/script&gt; "
                      + "(&lt;svg onload=alert(2)&gt;\u{D4E}&lt;b\u{301}&gt;), carol)"))
        #expect(try browser.post("/posts", form: [("csrf", csrf), ("text", "  "), ("audience", "family")]).body.contains("The post is empty"))
        let unknown = try browser.post("/posts", form: [("csrf", csrf), ("text", "hi"), ("audience", "nobody")])
        #expect(unknown.status == 400 && unknown.body.contains("nobody"), "\(unknown.body)")
        #expect(try browser.post("/posts", form: [("csrf", csrf), ("text", "the baby is here")]).status == 400)
        #expect(try browser.post("/posts", form: [("csrf", csrf), ("text", "the baby is here"), ("audience", "family")]).status == 303)
        let post = try #require(try feedPosts(alice, as: FeedItem.self).first { $0.text == "the baby is here" }).id
        _ = try kith(["sync", "--home", bob])
        _ = try kith(["sync", "--home", carol])
        #expect(try feed(carol).map(\.text) == ["the baby is here"], "carol reads alice's post, not bob's")

        // bob comments and reacts; alice comments from her page.
        try kithOK(["comment", "--home", bob, post, bobsComment])
        try kithOK(["react", "--home", bob, post, "👍"])
        _ = try kith(["sync", "--home", bob])
        #expect(try eventually(60) { try browser.get("/posts/\(post)").body.contains("alert(5)") && browser.get("/").body.contains("👍 <span class=\"count\">1</span>") })
        #expect(try browser.post("/posts/\(post)/comments", form: [("csrf", csrf), ("text", "")]).status == 400)
        #expect(try browser.post("/posts/\(post)/comments", form: [("csrf", csrf), ("text", "thank you!")]).header("Location") == "/posts/\(post)")
        #expect(try browser.post("/posts/nothex/comments", form: [("csrf", csrf), ("text", "x")]).status == 400)
        _ = try kith(["sync", "--home", alice])
        _ = try kith(["sync", "--home", carol])
        #expect(try threads(carol).first?.comments.map(\.text).contains("thank you!") == true)

        // Every page escapes what came from outside, in text and in attributes.
        // The checks go byte for byte: String.contains compares whole characters.
        let pages = [try browser.get("/").body, try browser.get("/posts/\(post)").body, try browser.get("/posts/\(bobPost)").body]
        let joiners = ["\u{600}", "\u{D4E}", "\u{111C2}"]
        let markup = ["<", ">", "\"", "'"]
        for page in pages {
            for raw in ["<script>alert", "<svg", "<img", "<b>bold", "\"javascript:", "'><"] { #expect(!holds(page, raw), "\(raw)") }
            for mark in markup {
                for joiner in joiners { #expect(!holds(page, joiner + mark), "\(joiner.unicodeScalars.first!.value) \(mark)") }
                #expect(!holds(page, mark + "\u{301}"), "\(mark) U+0301")
            }
        }
        #expect(holds(pages[0], "&lt;script&gt;alert(4)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt; "
                      + "\u{600}&lt;meta http-equiv=refresh content=0;url=/logout&gt;\u{301}"))
        #expect(holds(pages[0], ">bob&quot;\u{301}\u{D4E}&lt;script&gt;alert(1)&lt;/script&gt;</a>"), "the author")
        #expect(holds(pages[0], "(&lt;svg onload=alert(2)&gt;\u{D4E}&lt;b\u{301}&gt;)</span>"), "the profile name")
        #expect(holds(pages[0], "\">&#39;\u{301}\u{111C2}&gt;&lt;img src=x onerror=alert(3)&gt;</a>"), "the audience, a link to its posts")
        #expect(holds(pages[0], "aria-pressed=\"false\" title=\"bob&quot;\u{301}\u{D4E}&lt;script&gt;alert(1)&lt;/script&gt;\">👍 <span"), "the reaction")
        #expect(holds(pages[1], "&quot;&gt;&lt;img src=x onerror=alert(5)&gt;&lt;a href=&quot;javascript:alert(6)&quot;&gt;x&lt;/a&gt; "
                      + "\u{600}&lt;form method=post action=/posts&gt;\u{301}\u{600}&lt;input type=hidden name=audience value=Family&gt;\u{301}"))
        #expect(pages[1].contains("thank you!"))

        // Paging: 20 posts a page, the next through ?before=, never more.
        for n in 1...20 { try kithOK(["post", "--home", alice, "--to", "family", "note \(n)"]) }
        let first = try browser.get("/").body
        #expect(first.components(separatedBy: "<article class=\"post").count - 1 == 20)
        let next = try #require(try Regex(#"href="/\?before=([0-9a-f]+)" rel="next""#).firstMatch(in: first)).output[1].substring ?? ""
        #expect(first.contains("Older posts (2 more)"))
        let second = try browser.get("/?before=\(next)").body
        #expect(second.components(separatedBy: "<article class=\"post").count - 1 == 2)
        #expect(second.contains("the baby is here") && second.contains("alert(4)") && !second.contains("note 1<"))
        #expect(try browser.get("/?before=%3Cscript%3E").status == 400)

        // Filters, as `kith feed --author/--audience`: kept by the paging links; an empty one (the form's "Everyone") is none.
        let articles = { (page: String) in page.components(separatedBy: "<article class=\"post").count - 1 }
        let mine = try browser.get("/?author=me").body
        #expect(articles(mine) == 20 && !mine.contains("alert(4)") && mine.contains("<label for=\"filter-author\">From</label>"))
        let olderMine = try #require(try Regex(#"href="(/\?before=[0-9a-f]+&amp;author=me)" rel="next""#).firstMatch(in: mine)).output[1].substring ?? ""
        let secondMine = try browser.get(olderMine.replacingOccurrences(of: "&amp;", with: "&")).body
        #expect(articles(secondMine) == 1 && secondMine.contains("the baby is here") && secondMine.contains("href=\"/?author=me\">Newest posts"))
        let query = { (name: String) in WebBrowser.encode(name) }
        let bobs = try browser.get("/?author=" + query(bobsName)).body
        #expect(articles(bobs) == 1 && bobs.contains("alert(4)") && bobs.contains("Showing only posts from bob"))
        #expect(articles(try browser.get("/?audience=" + query(bobsAudience)).body) == 1)
        #expect(articles(try browser.get("/?author=me&audience=" + query(bobsAudience)).body) == 0)
        #expect(articles(try browser.get("/?author=&audience=").body) == 20)
        for bad in ["author=nobody", "audience=nobody"] {
            let refused = try browser.get("/?" + bad)
            #expect(refused.status == 400 && refused.body.contains("named &quot;nobody&quot;"), "\(refused.body)")
        }
        #expect(try browser.get("/?author=" + String(repeating: "x", count: 300)).status == 400)
        #expect(try browser.get("/posts/\(String(repeating: "0", count: 32))").status == 400)
    }
}

/// Whether `page` holds `part` byte for byte, so that a `<` joined to a neighbouring scalar counts.
func holds(_ page: String, _ part: String) -> Bool { Data(page.utf8).range(of: Data(part.utf8)) != nil }
