import AsyncHTTPClient
import Foundation
import KithNode
import NIOCore
import NIOHTTP1

/// The web app's feed page on a node holding many posts: bob's node is
/// filled by a real sync (`SyncFixture`), then `kith daemon` serves its web
/// app on 127.0.0.1 and the bench, signed in through `kith open`'s link,
/// asks for the feed's first page over one kept-alive HTTP connection. The
/// target is absolute: the first page in under 50 ms, however many posts
/// the node holds, because the page's query reads one page (its LIMIT,
/// by the index on the feed's order). The floor is the same server
/// answering the same signed-in request for its stylesheet: HTTP, the
/// session and the host check, without the node.
enum WebBench {
    static let pageLimitSeconds = 0.05

    static func feedPage(executable: String, posts count: Int, requests: Int) async throws -> [BenchCase] {
        precondition(count > FeedQuery.defaultLimit && requests > 0, "the web case reads a first page of a longer feed")
        let dir = try scratchDirectory()
        let children = Children()
        defer {
            children.stopAll()
            try? FileManager.default.removeItem(atPath: dir)
        }
        let relay = try await BenchRelay.start(directory: dir)
        do {
            let home = dir + "/bob"
            let fillSeconds = try await Measure.seconds {
                let fixture = try await SyncFixture.make(bobHome: home, relayURL: relay.url, store: relay.store, posts: count)
                guard try await fixture.bob.sync().newPosts == count else { throw BenchError("bob's node did not take in \(count) posts") }
            }
            let kith = KithRunner(executable: executable, passphrase: String(decoding: SyncFixture.passphrase, as: UTF8.self),
                                  daemonEnvironment: ["KITH_WEB_LISTEN": "127.0.0.1:0"])
            _ = try kith.controlSocket(of: try kith.startDaemon(home: home, children: children), home: home)
            let link = try kith.run(["open", "--home", home, "--no-browser"])
            let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
            do {
                let cases = try await measure(link: link, http: http, posts: count, requests: requests, fillSeconds: fillSeconds)
                try await http.shutdown()
                await relay.stop()
                return cases
            } catch {
                try? await http.shutdown()
                throw error
            }
        } catch {
            await relay.stop()
            throw error
        }
    }

    private static func measure(link: String, http: HTTPClient, posts count: Int, requests: Int, fillSeconds: Double) async throws -> [BenchCase] {
        guard let url = URL(string: link), let host = url.host, let port = url.port, let query = url.query else {
            throw BenchError("kith open printed no login link: \(link.prefix(200))")
        }
        let app = WebAppClient(http: http, base: "http://127.0.0.1:\(port)", host: "\(host):\(port)")
        try await app.signIn(query)
        // The first page: a page of posts and a link to the rest, never the whole feed.
        for path in ["/", "/?author=alice"] {
            let page = try await app.get(path)
            let shown = page.components(separatedBy: "<article class=\"post").count - 1
            guard shown == FeedQuery.defaultLimit, page.contains("(\(count - shown) more)") else {
                throw BenchError("GET \(path) showed \(shown) posts of \(count), not a first page of \(FeedQuery.defaultLimit)")
            }
        }
        var cases: [BenchCase] = []
        for (name, path) in [("web feed page", "/"), ("web feed page, one author", "/?author=alice")] {
            var pages: [Double] = [], floors: [Double] = []
            for _ in 0..<requests {
                floors.append(try await Measure.seconds { _ = try await app.get("/static/kith.css") })
                pages.append(try await Measure.seconds { _ = try await app.get(path) })
            }
            let page = percentile(pages, 0.5), floor = percentile(floors, 0.5)
            let shown = count.formatted(.number.grouping(.automatic))
            var result = BenchCase(
                name: "\(name), \(shown) posts", unit: "pages/s", ours: 1 / page, floor: 1 / floor, target: nil,
                note: String(format: "GET %@ through `kith daemon`'s web app, signed in: median %.1f ms (p99 %.1f ms, limit %.0f ms) of %d; "
                             + "floor: its stylesheet, median %.2f ms; the node filled by a sync in %.1f s",
                             path, page * 1000, percentile(pages, 0.99) * 1000, pageLimitSeconds * 1000, requests, floor * 1000, fillSeconds))
            result.seconds = page
            result.secondsLimit = pageLimitSeconds
            cases.append(result)
        }
        return cases
    }
}

/// A browser signed in to one web app: the app's secret host name in every
/// request, the session's cookie once `kith open`'s link has been followed.
private final class WebAppClient: @unchecked Sendable {
    let http: HTTPClient
    let base: String
    let host: String
    var cookie: String?

    init(http: HTTPClient, base: String, host: String) { (self.http, self.base, self.host) = (http, base, host) }

    func signIn(_ query: String) async throws {
        let response = try await send("/login?" + query)
        _ = try await response.body.collect(upTo: 1 << 20)
        guard let set = response.headers["Set-Cookie"].first, let pair = set.split(separator: ";").first else {
            throw BenchError("the web app's login set no cookie (status \(response.status.code))")
        }
        cookie = String(pair)
    }

    /// A page's or asset's body; an error for any status but 200.
    func get(_ path: String) async throws -> String {
        let response = try await send(path)
        let body = String(buffer: try await response.body.collect(upTo: 16 << 20))
        guard response.status == .ok else { throw BenchError("GET \(path) answered \(response.status.code): \(body.prefix(300))") }
        return body
    }

    private func send(_ path: String) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: base + path)
        request.headers.replaceOrAdd(name: "Host", value: host)
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        return try await http.execute(request, timeout: .seconds(30))
    }
}
