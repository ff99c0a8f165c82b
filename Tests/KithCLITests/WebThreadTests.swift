import Foundation
import Testing

/// Reacting, editing and deleting from the web app, between two real
/// daemons and a relay: what one does on a page, the other's page shows.
@Suite(.serialized) struct WebThreadTests {
    /// The first match of `pattern`'s group in `page`.
    static func first(_ pattern: String, in page: String) throws -> String {
        String(try #require(try Regex(pattern).firstMatch(in: page)).output[1].substring ?? "")
    }

    @Test func reactEditAndDeleteReachTheFriend() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let (alice, bob) = try aliceBobAndFamily(in: dir, relayURL: relay.url)
        let post = try kithOK(["post", "--home", alice, "--to", "family", "first draft of the news"])
        let aliceDaemon = try DaemonProcess(home: alice)
        defer { aliceDaemon.stop() }
        let bobDaemon = try DaemonProcess(home: bob)
        defer { bobDaemon.stop() }
        let aliceWeb = try WebAppTests.signedIn(alice), bobWeb = try WebAppTests.signedIn(bob)
        #expect(try eventually(60) { try bobWeb.get("/").body.contains("first draft of the news") })
        let bobsFeed = try bobWeb.get("/").body
        let csrf = try WebAppTests.csrf(bobsFeed), aliceCSRF = try WebAppTests.csrf(try aliceWeb.get("/").body)
        func reactions() throws -> [ThreadedItem.Reaction] { try #require(try threads(bob).first { $0.id == post }).reactions }

        // Every post offers the reactions, none pressed yet; only my own posts can be edited or deleted.
        #expect(bobsFeed.contains(#"<button type="submit" name="emoji" value="👍" aria-label="React with 👍" aria-pressed="false">👍</button>"#))
        #expect(!bobsFeed.contains("/posts/\(post)/edit") && !bobsFeed.contains("/posts/\(post)/delete"))
        #expect(try aliceWeb.get("/").body.contains(#"<a href="/posts/\#(post)/edit">Edit</a> <a href="/posts/\#(post)/delete">Delete</a>"#))

        // Refused, changing nothing: no CSRF token, a return target on another site, a reaction that is not one emoji.
        #expect(try bobWeb.post("/posts/\(post)/react", form: [("back", "/"), ("emoji", "👍")]).status == 403)
        for back in ["//evil.example", "https://evil.example/", "/\\evil.example", "evil.example", "/#x", "", "/\u{7}"] {
            let refused = try bobWeb.post("/posts/\(post)/react", form: [("csrf", csrf), ("back", back), ("emoji", "👍")])
            #expect(refused.status == 400 && refused.header("Location") == nil && refused.body.contains("not a page of this app"), "\(back)")
        }
        for emoji in ["ab", "👍👍", "", "<script>"] {
            let refused = try bobWeb.post("/posts/\(post)/react", form: [("csrf", csrf), ("back", "/"), ("emoji", emoji)])
            #expect(refused.status == 400 && !refused.body.contains("<script>"), "\(emoji)")
        }
        #expect(try reactions().isEmpty)

        // bob reacts from his feed and comes back to the post; alice's page shows who reacted.
        let reacted = try bobWeb.post("/posts/\(post)/react", form: [("csrf", csrf), ("back", "/"), ("emoji", "❤️")])
        #expect(reacted.status == 303 && reacted.header("Location") == "/#post-\(post)")
        #expect(try reactions() == [.init(emoji: "❤️", count: 1, by: ["bob"])])
        #expect(try bobWeb.get("/").body.contains(
            #"name="remove" value="❤️" aria-label="React with ❤️" aria-pressed="true" title="bob">❤️ <span class="count">1</span></button>"#))
        let shown = #"name="emoji" value="❤️" aria-label="React with ❤️" aria-pressed="false" title="bob">❤️ <span class="count">1</span>"#
        #expect(try eventually(60) { try aliceWeb.get("/posts/\(post)").body.contains(shown) })
        // Another emoji replaces it; pressing his own again takes it back, here from the post's page.
        #expect(try bobWeb.post("/posts/\(post)/react", form: [("csrf", csrf), ("back", "/posts/\(post)"), ("emoji", "🙏")])
                    .header("Location") == "/posts/\(post)#post-\(post)")
        #expect(try reactions() == [.init(emoji: "🙏", count: 1, by: ["bob"])])
        #expect(try bobWeb.post("/posts/\(post)/react", form: [("csrf", csrf), ("back", "/posts/\(post)"), ("remove", "🙏")]).status == 303)
        #expect(try reactions().isEmpty)
        #expect(try eventually(60) { try !aliceWeb.get("/posts/\(post)").body.contains(#"title="bob""#) })

        // alice edits her post from its page; bob's page shows the new text, marked edited.
        let editor = try aliceWeb.get("/posts/\(post)/edit")
        #expect(editor.status == 200 && editor.body.contains(">\nfirst draft of the news</textarea>"))
        #expect(try aliceWeb.post("/posts/\(post)/edit", form: [("text", "no token")]).status == 403)
        #expect(try aliceWeb.post("/posts/\(post)/edit", form: [("csrf", aliceCSRF), ("text", " \n")]).status == 400)
        let edited = try aliceWeb.post("/posts/\(post)/edit", form: [("csrf", aliceCSRF), ("text", "the news, corrected")])
        #expect(edited.status == 303 && edited.header("Location") == "/posts/\(post)#post-\(post)")
        #expect(try eventually(60) {
            let page = try bobWeb.get("/posts/\(post)").body
            return page.contains("the news, corrected") && page.contains(" · edited")
        })
        // bob cannot edit alice's post: no link, and the route says why.
        let notBobs = try bobWeb.get("/posts/\(post)/edit")
        #expect(notBobs.status == 400 && notBobs.body.contains("You can edit only your own posts and comments: this post is alice’s."))
        #expect(try bobWeb.post("/posts/\(post)/edit", form: [("csrf", csrf), ("text", "bob was here")]).status == 400)
        #expect(try bobWeb.get("/posts/\(post)/delete").status == 400)
        #expect(try bobWeb.post("/posts/\(post)/delete", form: [("csrf", csrf)]).status == 400)
        #expect(try threads(bob).first { $0.id == post }?.text == "the news, corrected")

        // bob comments and edits his comment; alice may delete it (it is on her post), not edit it.
        #expect(try bobWeb.post("/posts/\(post)/comments", form: [("csrf", csrf), ("text", "see you soon")]).status == 303)
        let comment = try #require(try threads(bob).first { $0.id == post }?.comments.first).id
        let commentPath = "/posts/\(post)/comments/\(comment)"
        #expect(try bobWeb.get("/posts/\(post)").body.contains(#"<a href="\#(commentPath)/edit">Edit</a> <a href="\#(commentPath)/delete">Delete</a>"#))
        #expect(try bobWeb.post(commentPath + "/edit", form: [("csrf", csrf), ("text", "see you sunday")]).header("Location")
                    == "/posts/\(post)#comment-\(comment)")
        #expect(try eventually(60) { try aliceWeb.get("/posts/\(post)").body.contains("see you sunday") })
        let alicesView = try aliceWeb.get("/posts/\(post)").body
        #expect(alicesView.contains(#"<p class="item-actions"><a href="\#(commentPath)/delete">Delete</a></p>"#))
        #expect(try aliceWeb.get(commentPath + "/edit").status == 400)
        #expect(try aliceWeb.get("/posts/\(post)/comments/\(String(repeating: "0", count: 32))/delete").status == 400)

        // Confirmation pages name the person with their fingerprint, as their friend page shows it.
        let bobsPrint = try Self.first(#"<dt>Fingerprint</dt><dd><code>([^<]+)</code>"#, in: try aliceWeb.get("/friend?name=bob").body)
        let alicesPrint = try Self.first(#"<dt>Fingerprint</dt><dd><code>([^<]+)</code>"#, in: try bobWeb.get("/friend?name=alice").body)
        #expect(try bobWeb.get("/friend/remove?name=alice").body.contains("alice</span> · fingerprint <code>\(alicesPrint)</code>"))
        #expect(try aliceWeb.get("/audience/remove?name=family&friend=bob").body.contains("bob</span> · fingerprint <code>\(bobsPrint)</code>"))
        let confirmComment = try aliceWeb.get(commentPath + "/delete").body
        #expect(confirmComment.contains("Delete this comment?") && confirmComment.contains("bob</span> · fingerprint <code>\(bobsPrint)</code>")
                && confirmComment.contains("<p class=\"text\">see you sunday</p>") && confirmComment.contains("a delete cannot reach that copy"))
        let commentGone = try aliceWeb.post(commentPath + "/delete", form: [("csrf", aliceCSRF)])
        #expect(commentGone.status == 303 && commentGone.header("Location") == "/posts/\(post)?deleted=comment")
        #expect(try aliceWeb.get("/posts/\(post)?deleted=comment").body.contains("The comment is deleted here."))
        #expect(try eventually(60) { try threads(bob).first { $0.id == post }?.comments.isEmpty == true })

        // alice deletes her post after the confirmation page; it is gone from both.
        let confirm = try aliceWeb.get("/posts/\(post)/delete").body
        #expect(confirm.contains("Delete this post?") && confirm.contains("alice</span> · fingerprint <code>\(alicesPrint)</code>")
                && confirm.contains("the news, corrected") && confirm.contains("with its comments and reactions")
                && confirm.contains(#"<a href="/posts/\#(post)#post-\#(post)">Keep it</a>"#))
        #expect(try aliceWeb.post("/posts/\(post)/delete", form: []).status == 403)
        #expect(try feed(alice).map(\.id) == [post])
        let gone = try aliceWeb.post("/posts/\(post)/delete", form: [("csrf", aliceCSRF)])
        #expect(gone.status == 303 && gone.header("Location") == "/?deleted=post")
        let after = try aliceWeb.get("/?deleted=post").body
        #expect(after.contains("The post is deleted here.") && !after.contains("the news, corrected"))
        #expect(try aliceWeb.get("/?deleted=yes").status == 400)
        #expect(try feed(alice).isEmpty)
        #expect(try eventually(60) { try feed(bob).isEmpty && !bobWeb.get("/").body.contains("the news, corrected") })
    }
}
