import Foundation
import Testing

/// Photos and avatars through the web app: the composer's uploads, the
/// photos a friend's web app serves, and what is refused. Real daemons, a
/// real relay, real HTTP.
@Suite(.serialized) struct WebPhotoTests {
    /// The answers a photo must carry: the browser keeps it, as what it is and nothing else.
    static func expectImageHeaders(_ answer: WebAnswer, type: String) {
        #expect(answer.status == 200, "\(answer.status) \(answer.body.prefix(300))")
        #expect(answer.header("Content-Type") == type)
        #expect(answer.header("X-Content-Type-Options") == "nosniff")
        #expect(answer.header("Cache-Control") == "private, max-age=31536000, immutable")
        #expect(answer.header("Content-Disposition") == "inline")
        #expect(answer.header("ETag")?.hasPrefix("\"") == true)
    }

    /// The files left in the node's private directory for web uploads (none once an answer is made).
    static func leftovers(_ home: String) -> [String] {
        (try? FileManager.default.subpathsOfDirectory(atPath: home + "/web-files")) ?? []
    }

    /// alice and bob, friends, bob in alice's "family", each with a running
    /// daemon, on a relay of their own; alice's browser is signed in.
    static func withAliceAndBob(_ body: (_ dir: String, _ alice: String, _ bob: String, _ browser: WebBrowser) throws -> Void) throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let (alice, bob) = try aliceBobAndFamily(in: dir, relayURL: relay.url)
        let aliceDaemon = try DaemonProcess(home: alice)
        defer { aliceDaemon.stop() }
        let bobDaemon = try DaemonProcess(home: bob)
        defer { bobDaemon.stop() }
        let browser = try WebAppTests.signedIn(alice)
        try body(dir, alice, bob, browser)
    }

    @Test func photosPostedFromTheComposerReachAFriendsWebApp() throws {
        try Self.withAliceAndBob { dir, alice, bob, browser in
            let feedPage = try browser.get("/").body
            #expect(feedPage.contains(#"enctype="multipart/form-data""#) && feedPage.contains(#"name="photo" accept="image/jpeg,image/png,image/webp" multiple"#))
            #expect(feedPage.contains("metadata are removed from each photo before anything leaves this machine"))
            let csrf = try WebAppTests.csrf(feedPage)
            let jpeg = try Data(contentsOf: URL(fileURLWithPath: gpsPhoto))
            #expect(contains(jpeg, Data("Pixel 7".utf8)))
            #expect(try exiftool(["-n", "-GPSLatitude", gpsPhoto]).contains("GPS Latitude"), "the fixture carries GPS tags")
            typealias Part = WebBrowser.Part
            let fields = [Part("csrf", csrf), Part("audience", "family")]

            // Refused, and nothing posted: no token, the token after the file, not an image, too many, too large.
            let refusals: [(parts: [Part], status: Int, says: String)] = [
                ([Part("audience", "family"), Part("text", "no token"), Part(file: "photo", filename: "a.jpg", jpeg)], 403, "CSRF token"),
                ([Part(file: "photo", filename: "a.jpg", jpeg), Part("csrf", csrf), Part("audience", "family")], 403, "CSRF token"),
                ([Part("csrf", String(repeating: "0", count: 64)), Part("audience", "family"), Part(file: "photo", filename: "a.jpg", jpeg)], 403, "CSRF token"),
                (fields + [Part("text", "not a photo"), Part(file: "photo", filename: "notes.jpg", Data("<html>hello</html>".utf8))], 400, "photo 1"),
                (fields + [Part("text", "eleven")] + (1...11).map { Part(file: "photo", filename: "\($0).jpg", jpeg) }, 400, "At most 10 photos"),
                (fields + [Part("text", "huge"), Part(file: "photo", filename: "big.jpg", jpeg + Data(count: 32 << 20))], 413, "larger than 32 MiB"),
            ]
            for refusal in refusals {
                let answer = try browser.post("/posts", multipart: refusal.parts)
                #expect(answer.status == refusal.status && answer.body.contains(refusal.says), "\(refusal.says): \(answer.status) \(answer.body)")
                #expect(Self.leftovers(alice).isEmpty, "\(Self.leftovers(alice))")
            }
            // A part's headers that never end, and a body cut off inside a photo: refused too.
            let head = "--xyz\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n\(csrf)\r\n--xyz\r\nContent-Disposition: form-data; "
            for body in [head + "name=\"audience\"\r\nX-Long: " + String(repeating: "a", count: 300_000) + "\r\n\r\nfamily\r\n--xyz--\r\n",
                         head + "name=\"audience\"\r\n\r\nfamily\r\n--xyz\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\n\r\n"
                            + String(decoding: jpeg.prefix(5000), as: UTF8.self)] {
                let answer = try browser.send("POST", "/posts", host: nil, headers: ["Content-Type": "multipart/form-data; boundary=xyz"],
                                              data: Data(body.utf8))
                #expect(answer.status == 400 && answer.body.contains("The form could not be read"), "\(answer.status) \(answer.body.prefix(500))")
                #expect(Self.leftovers(alice).isEmpty)
            }
            #expect(try feed(alice).isEmpty, "nothing was posted")

            // Posted: the answer names what was removed, and the upload's files are gone.
            let posted = try browser.post("/posts", multipart: fields + [Part("text", "the view from the hill"),
                                                                        Part(file: "photo", filename: "IMG_1234.jpg", jpeg)])
            #expect(posted.status == 200 && posted.body.contains("Posted") && posted.body.contains("GPS"), "\(posted.status) \(posted.body)")
            #expect(Self.leftovers(alice).isEmpty)
            let mine = try #require(try feed(alice).first)
            #expect(mine.text == "the view from the hill")
            #expect((try FileManager.default.attributesOfItem(atPath: alice + "/web-files")[.posixPermissions] as? Int) == 0o700)

            // bob's web app shows the thumbnail, linking to the photo, and serves both.
            let bobBrowser = try WebAppTests.signedIn(bob)
            #expect(try eventually(60) { try bobBrowser.get("/").body.contains("post-\(mine.id)") })
            let bobsFeed = try bobBrowser.get("/").body
            #expect(bobsFeed.contains(#"<a href="/posts/\#(mine.id)/photos/1"><img src="/posts/\#(mine.id)/photos/1/thumbnail" width="360" height="480" alt="Photo 1 by alice">"#),
                    "\(bobsFeed)")
            let thumbnail = try bobBrowser.get("/posts/\(mine.id)/photos/1/thumbnail")
            Self.expectImageHeaders(thumbnail, type: "image/jpeg")
            let photo = try bobBrowser.get("/posts/\(mine.id)/photos/1")
            Self.expectImageHeaders(photo, type: "image/jpeg")
            #expect(photo.bytes.starts(with: [0xFF, 0xD8, 0xFF]) && photo.bytes.count > thumbnail.bytes.count)
            #expect(!contains(photo.bytes, Data("Pixel 7".utf8)) && !contains(thumbnail.bytes, Data("Pixel 7".utf8)))
            let saved = dir + "/served.jpg"
            try photo.bytes.write(to: URL(fileURLWithPath: saved))
            #expect(try exiftool(["-gps:all", saved]).isEmpty, "no GPS tag is left")
            #expect(Self.leftovers(bob).isEmpty)
            // The same id and number never change: the browser's copy stands.
            let tag = try #require(photo.header("ETag"))
            let again = try bobBrowser.get("/posts/\(mine.id)/photos/1", headers: ["If-None-Match": tag])
            #expect(again.status == 304 && again.bytes.isEmpty && again.header("ETag") == tag)
            #expect(try bobBrowser.get("/posts/\(mine.id)/photos/1", headers: ["If-None-Match": "\"other\""]).status == 200)
            // Signed out, nothing; a number past the photos, nothing.
            #expect(try WebBrowser(name: bobBrowser.name, port: bobBrowser.port).get("/posts/\(mine.id)/photos/1").status == 303)
            #expect(try bobBrowser.get("/posts/\(mine.id)/photos/2").status == 400)
            #expect(try bobBrowser.get("/posts/\(mine.id)/photos/0").status == 404)
            // The post's page shows it too.
            #expect(try bobBrowser.get("/posts/\(mine.id)").body.contains(#"alt="Photo 1 by alice""#))

            // bob's comment with a photo shows on alice's page of the post, served by the comment's id.
            let commentID = try kithOK(["comment", "--home", bob, mine.id, "--photo", gpsPhoto, "a fine view"])
            let commentThumbnail = #"<img src="/posts/\#(commentID)/photos/1/thumbnail" width="360" height="480" alt="Photo 1 by bob">"#
            #expect(try eventually(60) { try browser.get("/posts/\(mine.id)").body.contains(commentThumbnail) })
            Self.expectImageHeaders(try browser.get("/posts/\(commentID)/photos/1/thumbnail"), type: "image/jpeg")
            #expect(try browser.get("/posts/\(commentID.prefix(8))/photos/1").status == 404, "a prefix does not name a photo")

            // A file that is not a photo is never served as one, whatever it holds.
            let page = dir + "/page.jpg"
            try Data("<script>alert(1)</script>".utf8).write(to: URL(fileURLWithPath: page))
            let fileID = try kithOK(["post", "--home", alice, "--to", "family", "a file", "--file", page])
            #expect(try eventually(60) { try bobBrowser.get("/").body.contains("post-\(fileID)") })
            let refused = try bobBrowser.get("/posts/\(fileID)/photos/1")
            #expect(refused.status == 415 && refused.header("Content-Type") == "text/html; charset=utf-8" && !refused.body.contains("<script>alert"))
            #expect(try bobBrowser.get("/").body.contains("1 files: <code>kith photo get \(fileID) NUMBER</code>"))
        }
    }

    /// A byte past ASCII in a part's header name (the multipart parser looks each one up in a table of 128) is
    /// refused, and the daemon goes on; a file's name past ASCII, in a header's value, is posted as ever.
    @Test func aHeaderNamePastASCIIIsRefused() throws {
        try Self.withAliceAndBob { _, alice, _, browser in
            let csrf = try WebAppTests.csrf(try browser.get("/").body)
            let token = "Content-Disposition: form-data; name=\"csrf\"\r\n\r\n\(csrf)\r\n--xyz\r\n"
            let audience = "Content-Disposition: form-data; name=\"audience\"\r\n\r\nfamily\r\n--xyz--\r\n"
            for body in ["--xyz\r\nCaf\u{E9}: 1\r\n" + token + audience, "--xyz\r\n" + token + "Content-Type: text/plain\r\n\u{FF}: 1\r\n" + audience] {
                let answer = try browser.send("POST", "/posts", host: nil, headers: ["Content-Type": "multipart/form-data; boundary=xyz"],
                                              data: Data(body.utf8))
                #expect(answer.status == 400 && answer.body.contains("The form could not be read"), "\(answer.status) \(answer.body.prefix(500))")
                #expect(try browser.get("/").status == 200, "the daemon still answers")
            }
            #expect(try feed(alice).isEmpty, "nothing was posted")
            let jpeg = try Data(contentsOf: URL(fileURLWithPath: gpsPhoto))
            let posted = try browser.post("/posts", multipart: [WebBrowser.Part("csrf", csrf), WebBrowser.Part("audience", "family"),
                                                                WebBrowser.Part(file: "photo", filename: "Straße über Café.jpg", jpeg)])
            #expect(posted.status == 200 && posted.body.contains("Posted"), "\(posted.status) \(posted.body)")
            #expect(try feed(alice).count == 1)
        }
    }

    /// A form with files holds its text fields in memory: their names and values together at most what a form without files may send.
    @Test func textFieldsTogetherAreBounded() throws {
        try Self.withAliceAndBob { _, alice, _, browser in
            typealias Part = WebBrowser.Part
            let fields = [Part("csrf", try WebAppTests.csrf(try browser.get("/").body)), Part("audience", "family"), Part("text", "hello")]
            let filler = String(repeating: "a", count: 150_000)
            let names = (1...20_000).map { Part("field-\($0)-" + String(repeating: "n", count: 20), "") }
            for extra in [[Part("a", filler), Part("b", filler)], names] {
                let answer = try browser.post("/posts", multipart: fields + extra)
                #expect(answer.status == 400 && answer.body.contains("The text is too long"), "\(answer.status) \(answer.body.prefix(500))")
            }
            #expect(try feed(alice).isEmpty, "nothing was posted")
            #expect(try browser.post("/posts", multipart: fields + [Part("a", filler)]).status == 303, "one large field is taken")
        }
    }

    @Test func avatarsRoundTrip() throws {
        try Self.withAliceAndBob { dir, alice, bob, browser in
            let empty = try browser.get("/profile").body
            #expect(empty.contains("You have no profile yet") && empty.contains(#"<a href="/profile">Profile</a>"#))
            let csrf = try WebAppTests.csrf(empty)
            let jpeg = try Data(contentsOf: URL(fileURLWithPath: gpsPhoto))
            typealias Part = WebBrowser.Part
            #expect(try browser.post("/profile", multipart: [Part("name", "Alice A."), Part(file: "avatar", filename: "me.jpg", jpeg)]).status == 403)
            let set = try browser.post("/profile", multipart: [Part("csrf", csrf), Part("name", "Alice <A.>"), Part("bio", "hills & views"),
                                                               Part(file: "avatar", filename: "me.jpg", jpeg)])
            #expect(set.status == 303 && set.header("Location") == "/profile", "\(set.status) \(set.body)")
            let mine = try browser.get("/profile").body
            #expect(mine.contains("Alice &lt;A.&gt;") && mine.contains("hills &amp; views") && mine.contains(#"src="/avatars/me?v=1""#), "\(mine)")
            let avatar = try browser.get("/avatars/me?v=1")
            WebPhotoTests.expectImageHeaders(avatar, type: "image/jpeg")
            #expect(!contains(avatar.bytes, Data("Pixel 7".utf8)))
            #expect(Self.leftovers(alice).isEmpty)

            // bob sees it on alice's profile page and beside her posts.
            try kithOK(["post", "--home", alice, "--to", "family", "hello"])
            let bobBrowser = try WebAppTests.signedIn(bob)
            #expect(try eventually(60) { try bobBrowser.get("/profile?friend=alice").body.contains("/avatars/") })
            let profile = try bobBrowser.get("/profile?friend=alice").body
            let match = try #require(try Regex(#"src="(/avatars/[0-9a-z]+\?v=1)""#).firstMatch(in: profile))
            let path = String(match.output[1].substring ?? "")
            #expect(profile.contains("Alice &lt;A.&gt;") && profile.contains("Fingerprint"))
            let friends = try bobBrowser.get(path)
            WebPhotoTests.expectImageHeaders(friends, type: "image/jpeg")
            #expect(friends.bytes == avatar.bytes && friends.header("ETag") == avatar.header("ETag"))
            #expect(try bobBrowser.get(path, headers: ["If-None-Match": avatar.header("ETag") ?? ""]).status == 304)
            #expect(try eventually(60) { try bobBrowser.get("/").body.contains(#"<img class="avatar" src="\#(path)""#) })
            #expect(try bobBrowser.get("/avatars/00112233").status == 404)
            #expect(try bobBrowser.get("/profile?friend=nobody").status == 400)
        }
    }
}
