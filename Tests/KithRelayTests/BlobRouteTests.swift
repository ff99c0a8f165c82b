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

    /// The owner's listing of the mailbox's blob references, and the answer it came in.
    func list(_ key: SigningKey) async throws -> (answer: RawAnswer, blobs: [BlobListing]) {
        let path = "/v1/mailboxes/\(Base64URL.encode(key.publicKey))/blobs"
        let answer = try await send("GET", path, headers: signed("GET", path, key))
        guard answer.status == 200 else { return (answer, []) }
        struct List: Decodable { let blobs: [BlobListing] }
        return (answer, try JSONDecoder().decode(List.self, from: Data(answer.body)).blobs)
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
                // Each reference counts in its own mailbox's blob quota, not in its envelopes'.
                #expect(try await store.usage(of: box.key.publicKey)! == (0, 0))
                #expect(try await http.list(box.key).blobs.map(\.size) == [blob.count])
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

    /// Blobs count in each named mailbox's blob quota, apart from its
    /// envelopes': a mailbox whose blob quota is full is left out (named in
    /// `full`) while the others take the blob, and it still takes every drop.
    @Test func blobsHaveAQuotaOfTheirOwnAndNeverMakeAMailboxRefuseEnvelopes() async throws {
        let store = try SQLiteRelayStore()
        var configuration = DropLimitTests.unlimitedRates
        configuration.quota = MailboxQuota(bytes: 1 << 20, envelopes: 100, blobBytes: 1 << 20, blobs: 3)
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url), http = BlobHTTP(url: url)
            let bob = try await TestMailbox.make(relay), carol = try await TestMailbox.make(relay), dave = try await TestMailbox.make(relay)
            // bob's blob quota filled by bytes: two blobs of 400,000 and no room for a third.
            for _ in 0..<2 { #expect(try await http.upload([bob.target], randomBytes(400_000)).status == 200) }
            let blob = randomBytes(400_000), id = Hash.blake2b(blob)
            let answer = try await http.upload([bob.target, carol.target, dave.target], blob)
            #expect(answer.status == 200 && answer.json?["accepted"] as? Int == 2 && answer.json?["full"] as? [Int] == [0])
            #expect(answer.json?["retry_after"] as? Int == 600)
            #expect(try await http.get(bob.key, id).status == 404)
            #expect(try await http.get(carol.key, id).body == blob)
            let alone = try await http.upload([bob.target], randomBytes(400_000))
            #expect(alone.status == 507 && alone.code == "mailbox_full" && alone.retryAfter == 600)
            // His mailbox still takes envelopes, up to their own quota: fifteen of 65,598 bytes fit its 1 MiB, not sixteen.
            for _ in 0..<15 { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes(65536))) }
            #expect(try await store.usage(of: bob.key.publicKey)! == (15, 15 * 65_598))
            let over = await DropLimitTests.refusal { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes(65536))) }
            #expect(over?.status == 507 && over?.code == "mailbox_full")
            // carol's blob quota filled by number: three small blobs, and a fourth is refused though it is small.
            for _ in 0..<2 { #expect(try await http.upload([carol.target], randomBytes(1000)).status == 200) }
            let fourth = try await http.upload([carol.target], randomBytes(1000))
            #expect(fourth.status == 507 && fourth.code == "mailbox_full")
            _ = try await relay.drop(DropRequest(targets: [carol.target], envelope: envelopeBytes()))
            // Deleting a blob gives the room back.
            #expect(try await http.delete(carol.key, id).status == 204)
            #expect(try await http.upload([carol.target], randomBytes(1000)).status == 200)
            // A stranger's token stores nothing.
            let forged = try await http.upload([.init(mailbox: dave.key.publicKey, token: randomBytes(32))], randomBytes(1000))
            #expect(forged.status == 403 && forged.code == "no_valid_token")
            #expect(try await store.counts().blobs == 6)
        }
    }

    /// An owner lists exactly their mailbox's blob references, oldest first,
    /// so that they can release those no post names; nobody else can.
    @Test func theOwnerListsTheirMailboxsBlobReferencesAndNobodyElseCan() async throws {
        let store = try SQLiteRelayStore()
        let now = NIOLockedValueBox<UInt64>(UInt64(Date().timeIntervalSince1970))
        var configuration = DropLimitTests.unlimitedRates
        configuration.clock = { now.withLockedValue { $0 } }
        configuration.ttlSeconds = 3600
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            var http = BlobHTTP(url: url)
            http.now = { now.withLockedValue { $0 } }
            let bob = try await TestMailbox.make(relay), carol = try await TestMailbox.make(relay), dave = try await TestMailbox.make(relay)
            let start = now.withLockedValue { $0 }
            let first = randomBytes(5000), second = randomBytes(70_000), hers = randomBytes(300)
            #expect(try await http.upload([bob.target, carol.target], first).status == 200)
            now.withLockedValue { $0 += 10 }
            #expect(try await http.upload([bob.target], second).status == 200)
            #expect(try await http.upload([carol.target], hers).status == 200)
            _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes()))

            let listed = try await http.list(bob.key)
            #expect(listed.answer.status == 200)
            #expect(listed.blobs == [
                BlobListing(id: Base64URL.encode(Hash.blake2b(first)), size: 5000, receivedAt: start, expiresAt: start + 3600),
                BlobListing(id: Base64URL.encode(Hash.blake2b(second)), size: 70_000, receivedAt: start + 10, expiresAt: start + 3610),
            ])
            #expect(try await http.list(carol.key).blobs.map(\.id) == [Hash.blake2b(first), Hash.blake2b(hers)].map { Base64URL.encode($0) })
            #expect(try await http.list(dave.key).blobs.isEmpty)
            // Released, a reference leaves the listing.
            #expect(try await http.delete(bob.key, Hash.blake2b(first)).status == 204)
            #expect(try await http.list(bob.key).blobs.map(\.size) == [70_000])

            // Nobody else: unsigned, or signed by another mailbox's key, the listing is refused and shows nothing.
            let path = "/v1/mailboxes/\(Base64URL.encode(bob.key.publicKey))/blobs"
            let unsigned = try await http.send("GET", path)
            #expect(unsigned.status == 401 && !unsigned.body.isEmpty && unsigned.json?["blobs"] == nil)
            let signedByCarol = SignedRequest(method: "GET", path: path, body: [], mailboxKey: carol.key, timestamp: http.now()).headers
            let forged = try await http.send("GET", path, headers: signedByCarol)
            #expect(forged.status == 401 && forged.json?["blobs"] == nil)
        }
    }

    /// Uploads naming no valid token are refused from their header alone and
    /// never hold an upload's place: many of them at once, stalled in the
    /// middle of their header or of their blob, leave room for a valid one.
    @Test func uploadsWithNoValidTokenNeverHoldAnUploadsPlace() async throws {
        var configuration = DropLimitTests.unlimitedRates
        configuration.maxBlobUploads = 2
        try await withLiveRelay(configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url), http = BlobHTTP(url: url)
            let bob = try await TestMailbox.make(relay), carol = try await TestMailbox.make(relay)
            // bob's token for carol's mailbox, and tokens nobody issued.
            let forgedTargets: [DropRequest.Target] = [.init(mailbox: carol.key.publicKey, token: bob.token),
                                                      .init(mailbox: randomBytes(32), token: randomBytes(32))]
            let forged = blobUploadBody(forgedTargets, randomBytes(1 << 20))
            var held: [RawConnection] = [], refused = 0
            for i in 0..<12 {
                let connection = try RawConnection(port: http.port, from: "127.0.0.\(i + 1)")
                let head = Array("POST /v1/blobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(forged.count)\r\n\r\n".utf8)
                if i % 2 == 0 {
                    // The header and part of the blob, the rest held back: refused at once.
                    try await connection.send(raw: head + forged.prefix(100_000))
                    let answer = try await BlobHTTP.answer(connection)
                    #expect(answer.status == 403 && answer.code == "no_valid_token")
                    refused += 1
                } else {
                    // Part of the header only, held back: waits for the rest, holding no place.
                    try await connection.send(raw: head + forged.prefix(70))
                }
                held.append(connection)
            }
            #expect(refused == 6)
            // Two valid uploads at once, the relay's two places, both stored.
            let body = blobUploadBody([bob.target], randomBytes(200_000))
            let stalled = try RawConnection(port: http.port, from: "127.0.0.100")
            try await stalled.send(raw: Array("POST /v1/blobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
                + body.prefix(body.count / 2))
            let valid = try await http.upload([bob.target, carol.target], randomBytes(100_000), from: "127.0.0.101")
            #expect(valid.status == 200 && valid.json?["accepted"] as? Int == 2)
            try await stalled.send(raw: Array(body.suffix(body.count - body.count / 2)))
            #expect(try await BlobHTTP.answer(stalled).status == 200)
            _ = held
        }
    }

    /// The router drops empty path parts, so the guards read paths the same
    /// way: `/v1/blobs/` and `//v1/envelopes` are the upload and the drop.
    @Test func pathsSpeltWithExtraSlashesMeetTheSameLimits() async throws {
        var configuration = DropLimitTests.unlimitedRates
        configuration.maxBlobBytes = 65_536
        let uploadLimit = configuration.maxBlobUploadBytes
        try await withLiveRelay(configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url), http = BlobHTTP(url: url)
            let bob = try await TestMailbox.make(relay)
            // Routed as an upload: stored.
            #expect(try await http.send("POST", "/v1/blobs/", body: blobUploadBody([bob.target], randomBytes(1000))).status == 200)
            for path in ["/v1/blobs/", "//v1/blobs", "/v1//blobs"] {
                let connection = try RawConnection(port: http.port)
                try await connection.send(raw: Array("POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(uploadLimit + 1)\r\n\r\n".utf8))
                let answer = try await BlobHTTP.answer(connection)
                #expect(answer.status == 413 && answer.code == "blob_too_large", "\(path): \(answer.status)")
            }
        }
        // On a nearly full disk, however the path is spelt.
        configuration.storageDirectory = NSTemporaryDirectory()
        configuration.minFreeBytes = .max
        let store = try SQLiteRelayStore(), bob = TestMailbox()
        _ = try await store.register(mailbox: bob.key.publicKey, now: 1)
        try await store.addToken(hash: DropToken.hash(bob.token), mailbox: bob.key.publicKey, now: 1)
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let http = BlobHTTP(url: url)
            let drop = DropRequest(targets: [bob.target], envelope: envelopeBytes()).bytes
            let cases: [(String, [UInt8])] = [
                ("/v1/blobs/", blobUploadBody([bob.target], randomBytes(1000))), ("//v1/blobs", blobUploadBody([bob.target], randomBytes(1000))),
                ("//v1/envelopes", drop), ("/v1/envelopes/", drop),
            ]
            for (path, body) in cases {
                let answer = try await http.send("POST", path, body: body)
                #expect(answer.status == 507 && answer.code == "disk_full", "\(path): \(answer.status)")
            }
            let counts = try await store.counts()
            #expect(counts.blobs == 0 && counts.deliveries == 0)
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
            /// Stalls uploads from `sources`, then sends a small valid upload (the same blob each time, so
            /// one reference) from `probe`, until the relay refuses it. A stalled upload takes its place
            /// once its header is read; should the probe before it have held a place at that moment, it is
            /// refused instead, so an upload stored means the stalled ones are let go and stalled again.
            let blob = randomBytes(1000)
            func refusedUpload(stalling sources: [String], probe: String) async throws -> (answer: RawAnswer, held: [RawConnection]) {
                for _ in 0..<100 {
                    var held: [RawConnection] = []
                    for source in sources { held.append(try await stalled(from: source)) }
                    try await Task.sleep(for: .milliseconds(100))
                    let answer = try await http.upload([bob.target], blob, from: probe)
                    if answer.status != 200 { return (answer, held) }
                    held.removeAll()  // closed: their places are let go before the next round
                    try await Task.sleep(for: .milliseconds(500))
                }
                throw RawConnection.Failure("uploads from \(probe) never refused")
            }
            let (perClient, held) = try await refusedUpload(stalling: ["127.0.0.1", "127.0.0.1"], probe: "127.0.0.1")
            #expect(perClient.status == 429 && perClient.code == "too_many_uploads" && perClient.retryAfter != nil)
            // Another address still has room, until the relay's three are taken.
            let (relayBusy, third) = try await refusedUpload(stalling: ["127.0.0.2"], probe: "127.0.0.3")
            #expect(relayBusy.status == 503 && relayBusy.code == "relay_busy" && relayBusy.retryAfter != nil)
            // A stalled upload finished is stored, and its place is free again.
            try await held[0].send(raw: Array(body.suffix(body.count - body.count / 2)))
            #expect(try await BlobHTTP.answer(held[0]).status == 200)
            #expect(try await http.upload([bob.target], randomBytes(1000), from: "127.0.0.3").status == 200)
            _ = third
        }
    }

    /// The request deadline grows with what arrives: a large upload sent at
    /// a modest rate is stored, though it takes longer than the deadline.
    @Test func anUploadThatKeepsArrivingOutlastsTheRequestDeadline() async throws {
        var configuration = DropLimitTests.unlimitedRates
        configuration.requestTimeoutSeconds = 6
        // The mailbox is made in the store: the test's own requests are all on the one slow connection.
        let store = try SQLiteRelayStore(), bob = TestMailbox()
        _ = try await store.register(mailbox: bob.key.publicKey, now: 1)
        try await store.addToken(hash: DropToken.hash(bob.token), mailbox: bob.key.publicKey, now: 1)
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let http = BlobHTTP(url: url)
            let blob = randomBytes(10 << 20)
            let body = blobUploadBody([bob.target], blob)
            let connection = try RawConnection(port: http.port)
            // The head and 1 MiB at once, then 1 MiB a second, 10 seconds in all against a deadline of 6: each
            // piece earns 16 seconds more, room for a machine so loaded that either side wakes several seconds late.
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

/// A relay from before blobs had a quota of their own moves each mailbox's
/// blob references out of its envelope counts into its blob counts.
@Suite struct BlobQuotaMigrationTests {
    @Test func blobReferencesLeaveTheEnvelopeCounts() async throws {
        let dir = try BlobRouteTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bob = TestMailbox(), carol = TestMailbox()
        let blob = randomBytes(7000), id = Hash.blake2b(blob)
        do {
            let old = try SQLiteRelayStore(path: dir + "/relay.sqlite", migratingUpTo: "v6-blobs")
            for m in [bob, carol] {
                _ = try await old.register(mailbox: m.key.publicKey, now: 1)
                try await old.addToken(hash: DropToken.hash(m.token), mailbox: m.key.publicKey, now: 1)
            }
            try await old.writer.write { db in
                // An envelope as the relay stored it then, its trigger counting the reference.
                let envelope = envelopeBytes()
                try db.execute(sql: "INSERT INTO body (data, created_at, expires_at) VALUES (?, 1, 1000)", arguments: [Data(envelope)])
                try db.execute(sql: "INSERT INTO delivery (mailbox, envelope, body, received_at, size, expires_at) VALUES (?, ?, ?, 1, ?, 1000)",
                               arguments: [Data(bob.key.publicKey), Data(Envelope.id(of: envelope)), db.lastInsertedRowID, envelope.count])
                try db.execute(sql: "INSERT INTO blob (id, size, data, created_at) VALUES (?, ?, ?, 1)", arguments: [Data(id), blob.count, Data(blob)])
                for m in [bob, carol] {
                    try db.execute(sql: "INSERT INTO blob_ref (mailbox, blob, received_at, expires_at) VALUES (?, ?, 1, 1000)",
                                   arguments: [Data(m.key.publicKey), Data(id)])
                }
            }
            #expect(try await old.usage(of: bob.key.publicKey)! == (2, 574 + 7000))
        }
        let store = try SQLiteRelayStore(path: dir + "/relay.sqlite")
        #expect(try await store.usage(of: bob.key.publicKey)! == (1, 574))
        #expect(try await store.usage(of: carol.key.publicKey)! == (0, 0))
        #expect(try await store.blobs(of: bob.key.publicKey, limit: 10) == [BlobListing(id: Base64URL.encode(id), size: 7000, receivedAt: 1, expiresAt: 1000)])
        // The blob counts moved: with room for one blob, carol's holds one already and takes no other.
        let quota = MailboxQuota(bytes: 1 << 20, envelopes: 10, blobBytes: 1 << 20, blobs: 1)
        await #expect(throws: MailboxFull(target: 0)) {
            try await store.storeBlob(randomBytes(100)[...], for: [carol.target], now: 2, ttl: 1000, quota: quota)
        }
        #expect(try await store.releaseBlob(id: id, mailbox: carol.key.publicKey))
        #expect(try await store.storeBlob(randomBytes(100)[...], for: [carol.target], now: 2, ttl: 1000, quota: quota).accepted == 1)
        #expect(try await store.usage(of: carol.key.publicKey)! == (0, 0))
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
