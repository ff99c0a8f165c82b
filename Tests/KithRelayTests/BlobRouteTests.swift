import Foundation
import GRDB
import KithCrypto
import KithNode
import KithProtocol
@testable import KithRelay
import NIOConcurrencyHelpers
import Testing

/// One answer read off a plain connection: status, `Retry-After`, body, and
/// the `code` of a JSON error.
struct RawAnswer {
    let status: Int
    let retryAfter: Int?
    let body: [UInt8]
    var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] }
    var code: String? { (json?["error"] as? [String: Any])?["code"] as? String }
}

/// A blob upload's body: `version || count u16 || count × (mailbox || token) || blob`.
func blobUploadBody(_ targets: [DropRequest.Target], _ blob: [UInt8]) -> [UInt8] {
    BlobUpload.header(targets: DropRequest.Targets(targets)) + blob
}

/// The relay's blob routes over real HTTP, each request on a connection of its own.
struct BlobHTTP {
    let port: Int
    /// The clock signed requests are stamped with (the relay's, in tests that move it).
    var now: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970) }

    init(url: String) { port = Int(url.split(separator: ":").last!)! }

    func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = [], from: String = "127.0.0.1") async throws -> RawAnswer {
        let connection = try RawConnection(port: port, from: from)
        try await connection.send(method, path, headers: headers, body: body)
        return try await Self.answer(connection)
    }

    /// Reads an answer's head and its body (by its Content-Length).
    static func answer(_ connection: RawConnection) async throws -> RawAnswer {
        let lines = try await connection.readHeadText().lowercased().split(separator: "\r\n")
        guard let statusLine = lines.first?.split(separator: " "), statusLine.count > 1, let status = Int(statusLine[1]) else {
            throw RawConnection.Failure("no answer")
        }
        func header(_ name: String) -> Int? {
            lines.first { $0.hasPrefix(name + ":") }.flatMap { Int($0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)) }
        }
        return RawAnswer(status: status, retryAfter: header("retry-after"), body: try await connection.read(count: header("content-length") ?? 0))
    }

    func upload(_ targets: [DropRequest.Target], _ blob: [UInt8], from: String = "127.0.0.1") async throws -> RawAnswer {
        try await send("POST", "/v1/blobs", body: blobUploadBody(targets, blob), from: from)
    }

    func path(_ key: SigningKey, _ id: [UInt8]) -> String {
        "/v1/mailboxes/\(Base64URL.encode(key.publicKey))/blobs/\(Base64URL.encode(id))"
    }

    func signed(_ method: String, _ path: String, _ key: SigningKey) -> [(String, String)] {
        SignedRequest(method: method, path: path, body: [], mailboxKey: key, timestamp: now()).headers
    }

    func get(_ key: SigningKey, _ id: [UInt8]) async throws -> RawAnswer {
        let path = path(key, id)
        return try await send("GET", path, headers: signed("GET", path, key))
    }

    func delete(_ key: SigningKey, _ id: [UInt8]) async throws -> RawAnswer {
        let path = path(key, id)
        return try await send("DELETE", path, headers: signed("DELETE", path, key))
    }
}

/// The relay's blobs: stored once per relay whatever the audience, handed
/// only to the mailboxes that reference them, counted in their quotas, and
/// collected when the last reference goes.
@Suite struct BlobRouteTests {
    static func temporaryDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "kith-blobs-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func oneUploadForThreeMailboxesIsStoredOnceAndHandedOnlyToThem() async throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteRelayStore(path: dir + "/relay.sqlite")
        try await withLiveRelay(store: store) { url, _ in
            let relay = RelayClient(baseURL: url), http = BlobHTTP(url: url)
            var boxes: [TestMailbox] = []
            for _ in 0..<4 { boxes.append(try await TestMailbox.make(relay)) }
            let members = Array(boxes[0..<3]), stranger = boxes[3]
            // Several pages of the relay's reads, and not a whole number of them.
            let blob = randomBytes(3 << 20 + 12_345)
            let before = try await store.databaseBytes()
            let answer = try await http.upload(members.map(\.target), blob)
            #expect(answer.status == 200)
            let id = Hash.blake2b(blob)
            #expect(answer.json?["id"] as? String == Hex.encode(id))
            #expect(answer.json?["accepted"] as? Int == 3 && (answer.json?["refused"] as? [Int])?.isEmpty == true)
            // Stored once: the database grew by about one blob, not three.
            let grown = try await store.databaseBytes() - before
            #expect(grown > blob.count * 9 / 10 && grown < blob.count * 5 / 4, "grew \(grown) for \(blob.count)")
            let counts = try await store.counts()
            #expect(counts.blobs == 1 && counts.blobBytes == blob.count)
            for box in members {
                let got = try await http.get(box.key, id)
                #expect(got.status == 200 && got.body == blob)
                // Each reference counts in its own mailbox's quota: one item of the blob's size.
                #expect(try await store.usage(of: box.key.publicKey)! == (1, blob.count))
            }
            // A mailbox that holds no reference gets nothing, as for an id never stored.
            let refused = try await http.get(stranger.key, id)
            #expect(refused.status == 404 && refused.code == "no_such_blob" && refused.body.count < 1000)
            #expect(try await http.get(members[0].key, randomBytes(32)).code == "no_such_blob")
            #expect(try await store.usage(of: stranger.key.publicKey)! == (0, 0))

            // The same blob again stores nothing new; an upload of other bytes is another blob under another id.
            #expect(try await http.upload(members.map(\.target), blob).json?["accepted"] as? Int == 3)
            var tampered = blob
            tampered[1000] ^= 1
            let other = try await http.upload([members[0].target], tampered)
            #expect(other.json?["id"] as? String == Hex.encode(Hash.blake2b(tampered)) && other.json?["id"] as? String != Hex.encode(id))
            #expect(try await http.get(members[0].key, id).body == blob)
            #expect(try await store.counts().blobs == 2)

            // Deleted by each member: the blob stays until the last reference goes, then it is gone at once.
            #expect(try await http.delete(members[0].key, id).status == 204)
            #expect(try await http.get(members[0].key, id).status == 404)
            #expect(try await http.delete(members[0].key, id).code == "no_such_blob")
            #expect(try await http.delete(members[1].key, id).status == 204)
            #expect(try await http.get(members[2].key, id).body == blob)
            #expect(try await store.usage(of: members[1].key.publicKey)! == (0, 0))
            #expect(try await http.delete(members[2].key, id).status == 204)
            #expect(try await store.counts().blobs == 1)
            #expect(try await store.counts().blobBytes == tampered.count)
        }
    }

    @Test func referencesExpireAfterTheRelaysTTLAndTheBlobIsCollected() async throws {
        let store = try SQLiteRelayStore()
        let now = NIOLockedValueBox<UInt64>(UInt64(Date().timeIntervalSince1970))
        var configuration = RelayConfiguration()
        configuration.clock = { now.withLockedValue { $0 } }
        configuration.ttlSeconds = 3600
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            var http = BlobHTTP(url: url)
            http.now = { now.withLockedValue { $0 } }
            var boxes: [TestMailbox] = []
            for _ in 0..<3 { boxes.append(try await TestMailbox.make(relay)) }
            let blob = randomBytes(100_000), id = Hash.blake2b(blob)
            #expect(try await http.upload(boxes.map(\.target), blob).status == 200)
            now.withLockedValue { $0 += 3599 }
            let early = try await store.collect(now: now.withLockedValue { $0 })
            #expect(early.blobReferences == 0 && early.blobs == 0)
            #expect(try await http.get(boxes[0].key, id).body == blob)
            now.withLockedValue { $0 += 1 }
            let due = try await store.collect(now: now.withLockedValue { $0 })
            #expect(due.blobReferences == 3 && due.blobs == 1)
            #expect(try await store.counts().blobs == 0)
            #expect(try await http.get(boxes[1].key, id).code == "no_such_blob")
            for box in boxes { #expect(try await store.usage(of: box.key.publicKey)! == (0, 0)) }
        }
    }

    /// A blob counts in each named mailbox's quota: a mailbox near its quota
    /// is left out (named in `full`) while the others take the blob, and the
    /// blob then counts against the next drop.
    @Test func quotasCountBlobs() async throws {
        let store = try SQLiteRelayStore()
        var configuration = DropLimitTests.unlimitedRates
        configuration.quota = MailboxQuota(bytes: 1 << 20, envelopes: 100)
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url), http = BlobHTTP(url: url)
            let bob = try await TestMailbox.make(relay), carol = try await TestMailbox.make(relay), dave = try await TestMailbox.make(relay)
            for _ in 0..<12 { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes(65536))) }
            let blob = randomBytes(400_000), id = Hash.blake2b(blob)
            let answer = try await http.upload([bob.target, carol.target, dave.target], blob)
            #expect(answer.status == 200 && answer.json?["accepted"] as? Int == 2 && answer.json?["full"] as? [Int] == [0])
            #expect(answer.json?["retry_after"] as? Int == 600)
            #expect(try await http.get(bob.key, id).status == 404)
            #expect(try await http.get(carol.key, id).body == blob)
            let alone = try await http.upload([bob.target], randomBytes(400_000))
            #expect(alone.status == 507 && alone.code == "mailbox_full" && alone.retryAfter == 600)
            // carol's blob takes 400,000 bytes of her 1 MiB: nine envelopes of 65,598 fit beside it, not ten.
            for _ in 0..<9 { _ = try await relay.drop(DropRequest(targets: [carol.target], envelope: envelopeBytes(65536))) }
            let over = await DropLimitTests.refusal { _ = try await relay.drop(DropRequest(targets: [carol.target], envelope: envelopeBytes(65536))) }
            #expect(over?.status == 507 && over?.code == "mailbox_full")
            #expect(try await store.usage(of: carol.key.publicKey)! == (10, 400_000 + 9 * 65_598))
            // Deleting the blob gives her the room back.
            #expect(try await http.delete(carol.key, id).status == 204)
            _ = try await relay.drop(DropRequest(targets: [carol.target], envelope: envelopeBytes(65536)))
            // A stranger's token stores nothing.
            let forged = try await http.upload([.init(mailbox: dave.key.publicKey, token: randomBytes(32))], randomBytes(1000))
            #expect(forged.status == 403 && forged.code == "no_valid_token")
            #expect(try await store.counts().blobs == 1)
        }
    }

    @Test func tooLargeAndMalformedUploadsAreRefusedAndStoreNothing() async throws {
        let store = try SQLiteRelayStore()
        var configuration = DropLimitTests.unlimitedRates
        configuration.maxBlobBytes = 65_536
        let dropLimit = configuration.maxRequestBytes
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url), http = BlobHTTP(url: url)
            let bob = try await TestMailbox.make(relay), carol = try await TestMailbox.make(relay)
            // A Content-Length over the upload's limit is refused from the head alone: no body is sent.
            let connection = try RawConnection(port: http.port)
            try await connection.send(raw: Array("POST /v1/blobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(65_536 + 3 + 64_000 + 1)\r\n\r\n".utf8))
            let early = try await BlobHTTP.answer(connection)
            #expect(early.status == 413 && early.code == "blob_too_large")
            // Other routes keep their own limit, below the upload's.
            let drop = try RawConnection(port: http.port)
            try await drop.send(raw: Array("POST /v1/envelopes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(dropLimit + 1)\r\n\r\n".utf8))
            let dropRefused = try await BlobHTTP.answer(drop)
            #expect(dropRefused.status == 413 && dropRefused.code == "request_too_large")
            // A body within the upload's limit whose blob is over the relay's.
            let big = try await http.upload([bob.target], randomBytes(65_537))
            #expect(big.status == 413 && big.code == "blob_too_large")
            #expect(try await http.upload([bob.target], randomBytes(65_536)).status == 200)
            let valid = blobUploadBody([bob.target, carol.target], randomBytes(1000))
            let cases: [(String, [UInt8])] = [
                ("empty", []),
                ("no target", [1, 0, 0] + randomBytes(1000)),
                ("another version", [2] + valid.dropFirst()),
                ("a mailbox named twice", blobUploadBody([bob.target, bob.target], randomBytes(1000))),
                ("no blob", Array(valid.prefix(3 + 128))),
                ("a blob shorter than 41 bytes", Array(valid.prefix(3 + 128 + 40))),
                ("more targets than the body holds", [1, 0x03, 0xe8] + valid.dropFirst(3)),
            ]
            for (what, body) in cases {
                let answer = try await http.send("POST", "/v1/blobs", body: body)
                #expect(answer.status == 400 && answer.json?["error"] != nil, "\(what): \(answer.status)")
            }
            #expect(try await store.counts().blobs == 1)
            #expect(try await store.usage(of: carol.key.publicKey)! == (0, 0))
            // Owner requests with a bad id, or unsigned.
            let badID = "/v1/mailboxes/\(Base64URL.encode(bob.key.publicKey))/blobs/short"
            #expect(try await http.send("GET", badID, headers: http.signed("GET", badID, bob.key)).status == 400)
            #expect(try await http.send("GET", http.path(bob.key, randomBytes(32))).status == 401)
        }
    }

    /// Uploads hold their bodies in memory: a few at once in all and two per
    /// client address, refused before their bodies are read beyond that.
    @Test func uploadsInProgressAreBounded() async throws {
        var configuration = DropLimitTests.unlimitedRates
        configuration.maxBlobUploads = 3
        try await withLiveRelay(configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url), http = BlobHTTP(url: url)
            let bob = try await TestMailbox.make(relay)
            let body = blobUploadBody([bob.target], randomBytes(200_000))
            /// An upload whose head and half its body are sent, the rest held back.
            func stalled(from source: String) async throws -> RawConnection {
                let connection = try RawConnection(port: http.port, from: source)
                try await connection.send(raw: Array("POST /v1/blobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
                    + body.prefix(body.count / 2))
                return connection
            }
            /// Sends a malformed upload (400 once admitted) until the relay refuses it: the stalled
            /// uploads take their places as soon as their heads are read.
            func refusedUpload(from source: String) async throws -> RawAnswer {
                for _ in 0..<200 {
                    let answer = try await http.send("POST", "/v1/blobs", body: [1, 0, 0], from: source)
                    if answer.status != 400 { return answer }
                    try await Task.sleep(for: .milliseconds(50))
                }
                throw RawConnection.Failure("never refused")
            }
            let first = try await stalled(from: "127.0.0.1"), second = try await stalled(from: "127.0.0.1")
            let perClient = try await refusedUpload(from: "127.0.0.1")
            #expect(perClient.status == 429 && perClient.code == "too_many_uploads" && perClient.retryAfter != nil)
            // Another address still has room, until the relay's three are taken.
            let third = try await stalled(from: "127.0.0.2")
            let relayBusy = try await refusedUpload(from: "127.0.0.3")
            #expect(relayBusy.status == 503 && relayBusy.code == "relay_busy" && relayBusy.retryAfter != nil)
            // A stalled upload finished is stored, and its place is free again.
            try await first.send(raw: Array(body.suffix(body.count - body.count / 2)))
            #expect(try await BlobHTTP.answer(first).status == 200)
            #expect(try await http.upload([bob.target], randomBytes(1000), from: "127.0.0.3").status == 200)
            _ = (second, third)
        }
    }

    /// The request deadline grows with what arrives: a large upload sent at
    /// a modest rate is stored, though it takes longer than the deadline.
    @Test func anUploadThatKeepsArrivingOutlastsTheRequestDeadline() async throws {
        var configuration = DropLimitTests.unlimitedRates
        configuration.requestTimeoutSeconds = 3
        // The mailbox is made in the store: the test's own requests are all on the one slow connection.
        let store = try SQLiteRelayStore(), bob = TestMailbox()
        _ = try await store.register(mailbox: bob.key.publicKey, now: 1)
        try await store.addToken(hash: DropToken.hash(bob.token), mailbox: bob.key.publicKey, now: 1)
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let http = BlobHTTP(url: url)
            let blob = randomBytes(6 << 20)
            let body = blobUploadBody([bob.target], blob)
            let connection = try RawConnection(port: http.port)
            // The head and 1 MiB at once, then 1 MiB a second, 6 seconds in all: each piece earns 16 seconds
            // more, room for a machine so loaded that the test wakes several seconds late.
            let head = Array("POST /v1/blobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
            for start in stride(from: 0, to: body.count, by: 1 << 20) {
                if start > 0 { try await Task.sleep(for: .seconds(1)) }
                try await connection.send(raw: (start == 0 ? head : []) + body[start..<min(start + (1 << 20), body.count)])
            }
            let answer = try await BlobHTTP.answer(connection)
            #expect(answer.status == 200 && answer.json?["id"] as? String == Hex.encode(Hash.blake2b(blob)))
        }
    }

    @Test func theAddressRateLimitsUploadsLikeDrops() async throws {
        var configuration = RelayConfiguration()
        configuration.addressRate = RateLimit(perSecond: 0.001, burst: 2)
        try await withLiveRelay(configuration: configuration) { url, _ in
            let http = BlobHTTP(url: url)
            #expect(try await http.upload([.init(mailbox: randomBytes(32), token: randomBytes(32))], randomBytes(100)).status == 403)
            #expect(try await http.upload([.init(mailbox: randomBytes(32), token: randomBytes(32))], randomBytes(100)).status == 403)
            let limited = try await http.upload([.init(mailbox: randomBytes(32), token: randomBytes(32))], randomBytes(100))
            #expect(limited.status == 429 && limited.code == "address_rate_limited" && limited.retryAfter != nil)
        }
    }

    @Test func aNearlyFullDiskRefusesUploadsButNotDownloads() async throws {
        let store = try SQLiteRelayStore()
        var configuration = RelayConfiguration()
        let made = NIOLockedValueBox<(TestMailbox, [UInt8])?>(nil)
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let bob = try await TestMailbox.make(RelayClient(baseURL: url))
            let blob = randomBytes(5000)
            #expect(try await BlobHTTP(url: url).upload([bob.target], blob).status == 200)
            made.withLockedValue { $0 = (bob, blob) }
        }
        let (bob, blob) = try #require(made.withLockedValue { $0 })
        configuration.storageDirectory = NSTemporaryDirectory()
        configuration.minFreeBytes = .max
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let http = BlobHTTP(url: url)
            let refused = try await http.upload([bob.target], randomBytes(5000))
            #expect(refused.status == 507 && refused.code == "disk_full")
            #expect(try await http.get(bob.key, Hash.blake2b(blob)).body == blob)
            #expect(try await http.delete(bob.key, Hash.blake2b(blob)).status == 204)
        }
    }
}

/// A real relay process keeps the blobs it acknowledged across a kill and a start.
@Suite(.serialized) struct BlobDurabilityTests {
    @Test func aKilledRelayKeepsItsBlobs() async throws {
        var process = try RelayProcess()
        let home = process.home
        let relay = RelayClient(baseURL: process.url)
        let bob = try await TestMailbox.make(relay), carol = try await TestMailbox.make(relay)
        let blob = randomBytes(1 << 20), id = Hash.blake2b(blob)
        #expect(try await BlobHTTP(url: process.url).upload([bob.target, carol.target], blob).status == 200)
        process.kill()
        process = try RelayProcess(home: home)
        defer { process.keepsHome = false; process.stop() }
        let http = BlobHTTP(url: process.url)
        #expect(try await http.get(bob.key, id).body == blob)
        #expect(try await http.delete(bob.key, id).status == 204)
        #expect(try await http.get(carol.key, id).body == blob)
    }
}
