import Foundation
import KithCrypto
@testable import KithProtocol
import Testing

let now: UInt64 = 1_790_000_000

func makeCard(_ identity: SigningKey = SigningKey(), name: String = "alice", sequence: UInt64 = 1) throws -> ContactCard {
    let box = BoxKey()
    let cert = EncryptionKeyCertificate(publicKey: box.publicKey, notBefore: now, notAfter: now + 3600, signedBy: identity)
    let inboxes = [Inbox(relay: "http://127.0.0.1:8080", mailbox: SigningKey().publicKey, dropToken: randomBytes(32)),
                   Inbox(relay: "https://relay.example", mailbox: SigningKey().publicKey, dropToken: randomBytes(32))]
    return try ContactCard(identity: identity, encryptionKey: cert, sequence: sequence, createdAt: now, name: name, inboxes: inboxes)
}

func makeAudience(owner: SigningKey, epoch: UInt32 = 1) -> AudienceKey {
    AudienceKey(owner: owner.publicKey, audienceID: randomBytes(16), epoch: epoch, key: SecretBytes(random: 32))
}

@Suite struct CardTests {
    @Test func roundTripsThroughText() throws {
        let card = try makeCard(name: "Zoë 🌻")
        let text = card.text
        #expect(!text.contains("\n") && text.hasPrefix("kith-card:"))
        let parsed = try ContactCard(text: "  " + text + "\n")
        #expect(parsed == card)
        #expect(parsed.name == "Zoë 🌻")
        #expect(parsed.inboxes.count == 2)
    }

    @Test func everyFlippedByteIsRefused() throws {
        let bytes = try makeCard().bytes
        for i in stride(from: 0, to: bytes.count, by: 7) {
            var b = bytes
            b[i] ^= 0x04
            #expect(throws: ProtocolError.self) { try ContactCard(bytes: b) }
        }
    }

    @Test func refusesBadNamesAndInboxes() throws {
        #expect(throws: ProtocolError.self) { try makeCard(name: "") }
        #expect(throws: ProtocolError.self) { try makeCard(name: String(repeating: "x", count: 65)) }
        #expect(throws: ProtocolError.self) { try makeCard(name: "two\nlines") }
        let id = SigningKey()
        let cert = EncryptionKeyCertificate(publicKey: BoxKey().publicKey, notBefore: now, notAfter: now + 1, signedBy: id)
        #expect(throws: ProtocolError.self) {
            try ContactCard(identity: id, encryptionKey: cert, sequence: 1, createdAt: now, name: "a",
                            inboxes: [Inbox(relay: "ftp://x", mailbox: randomBytes(32), dropToken: randomBytes(32))])
        }
        #expect(throws: ProtocolError.self) {
            try ContactCard(identity: id, encryptionKey: cert, sequence: 1, createdAt: now, name: "a", inboxes: [])
        }
    }

    @Test func fingerprintIsStableAndDistinct() {
        let a = SigningKey(), b = SigningKey()
        #expect(Fingerprint.of(identity: a.publicKey) == Fingerprint.of(identity: a.publicKey))
        #expect(Fingerprint.of(identity: a.publicKey) != Fingerprint.of(identity: b.publicKey))
        #expect(Fingerprint.of(identity: a.publicKey).count == 39)
    }
}

@Suite struct PostTests {
    @Test func sealsAndOpens() throws {
        let alice = SigningKey()
        let audience = makeAudience(owner: alice, epoch: 4)
        let post = try Post(author: alice.publicKey, audienceID: audience.audienceID, epoch: 4, id: randomBytes(16), createdAt: now, text: "hello")
        let envelope = try post.seal(author: alice, audience: audience)
        let parsed = try Envelope(bytes: envelope.bytes)
        #expect(try Post.open(parsed, audience: audience, now: now) == post)
    }

    @Test func sizeDependsOnlyOnTheBucket() throws {
        let alice = SigningKey()
        let audience = makeAudience(owner: alice)
        func size(_ text: String) throws -> Int {
            try Post(author: alice.publicKey, audienceID: audience.audienceID, epoch: 1, id: randomBytes(16), createdAt: now, text: text)
                .seal(author: alice, audience: audience).bytes.count
        }
        #expect(try size("a") == size(String(repeating: "b", count: 300)))
        #expect(try size(String(repeating: "c", count: 1024)) == 6 + 16 + 24 + 2048 + 16)
        #expect(Post.bucket(for: 511) == 512 && Post.bucket(for: 512) == 1024)
    }

    @Test func refusedUnderAnotherAudienceKey() throws {
        let alice = SigningKey()
        let audience = makeAudience(owner: alice)
        let envelope = try Post(author: alice.publicKey, audienceID: audience.audienceID, epoch: 1, id: randomBytes(16), createdAt: now, text: "x")
            .seal(author: alice, audience: audience)
        let error = #expect(throws: ProtocolError.self) { try Post.open(envelope, audience: makeAudience(owner: alice), now: now) }
        #expect(error?.kind == .noMatchingKey)
    }

    @Test func tamperedHeaderIsAuthenticated() throws {
        let alice = SigningKey()
        let audience = makeAudience(owner: alice)
        var bytes = try Post(author: alice.publicKey, audienceID: audience.audienceID, epoch: 1, id: randomBytes(16), createdAt: now, text: "x")
            .seal(author: alice, audience: audience).bytes
        bytes[5] = Envelope.Kind.keyMessage.rawValue
        let error = #expect(throws: ProtocolError.self) { try Post.open(try Envelope(bytes: bytes), audience: audience, now: now) }
        #expect(error?.kind == .malformed)
    }
}

@Suite struct KeyMessageTests {
    @Test func sealsOpensAndChecksRecipient() throws {
        let alice = SigningKey(), bob = SigningKey()
        let bobBox = BoxKey(), oldBox = BoxKey()
        let audience = makeAudience(owner: alice, epoch: 2)
        let envelope = try KeyMessage(audience: audience, recipient: bob.publicKey, audienceName: "family", createdAt: now)
            .seal(owner: alice, to: bobBox.publicKey)
        let opened = try KeyMessage.open(envelope, keys: [oldBox, bobBox], me: bob.publicKey)
        #expect(opened.audience.keyID == audience.keyID)
        #expect(opened.audienceName == "family")
        let wrong = #expect(throws: ProtocolError.self) { try KeyMessage.open(envelope, keys: [bobBox], me: alice.publicKey) }
        #expect(wrong?.kind == .wrongRecipient)
        let none = #expect(throws: ProtocolError.self) { try KeyMessage.open(envelope, keys: [oldBox], me: bob.publicKey) }
        #expect(none?.kind == .noMatchingKey)
    }

    @Test func envelopeIsOpaqueToTheRelay() throws {
        let alice = SigningKey(), bob = SigningKey()
        let bobBox = BoxKey()
        let audience = makeAudience(owner: alice)
        let bytes = try KeyMessage(audience: audience, recipient: bob.publicKey, audienceName: "family", createdAt: now)
            .seal(owner: alice, to: bobBox.publicKey).bytes
        for secretish in [alice.publicKey, bob.publicKey, bobBox.publicKey, audience.audienceID, Array("family".utf8)] {
            #expect(!bytes.contains(subsequence: secretish))
        }
    }

    /// Padding: the size does not tell the audience name's length.
    @Test func sizeIsFixed() throws {
        let alice = SigningKey(), bob = SigningKey(), bobBox = BoxKey()
        let audience = makeAudience(owner: alice)
        let sizes = try ["x", "family", String(repeating: "n", count: 64)].map {
            try KeyMessage(audience: audience, recipient: bob.publicKey, audienceName: $0, createdAt: now).seal(owner: alice, to: bobBox.publicKey).bytes.count
        }
        #expect(sizes == [310, 310, 310])
        #expect(throws: ProtocolError.self) {
            try KeyMessage(audience: audience, recipient: bob.publicKey, audienceName: String(repeating: "n", count: 65), createdAt: now)
                .seal(owner: alice, to: bobBox.publicKey)
        }
    }
}

@Suite struct RuleTests {
    /// One owner's audience key can never stand for another's, even with the same K.
    @Test func keyDerivationsBindOwnerAudienceAndEpoch() {
        let k = SecretBytes(random: 32), a = SigningKey().publicKey, b = SigningKey().publicKey, id = randomBytes(16)
        let base = AudienceKey(owner: a, audienceID: id, epoch: 1, key: k)
        for other in [AudienceKey(owner: b, audienceID: id, epoch: 1, key: k), AudienceKey(owner: a, audienceID: randomBytes(16), epoch: 1, key: k),
                      AudienceKey(owner: a, audienceID: id, epoch: 2, key: k)] {
            #expect(other.keyID != base.keyID)
            #expect(other.postKey.copyBytes() != base.postKey.copyBytes())
        }
    }

    @Test func namesRefuseControlFormatAndSeparatorCharacters() throws {
        for bad in ["", String(repeating: "x", count: 65), "a\u{0}", "a\r", "a\u{7F}", "a\u{9B}", "a\u{202E}", "a\u{2066}", "a\u{200E}",
                    "a\u{2028}", "a\u{2029}", "a\u{FEFF}", "a\u{061C}"] {
            #expect(throws: ProtocolError.self, "\(Array(bad.unicodeScalars.map(\.value)))") { try Name.check(bad, field: "name") }
        }
        for good in ["alice", "Zoë 🌻", "Grand-mère", "李小龍", "a b"] { try Name.check(good, field: "name") }
    }

    @Test func relayURLs() throws {
        for good in ["http://127.0.0.1:8080", "https://relay.example", "https://relay.example/kith", "http://[::1]:9000", "http://h:1"] {
            try RelayURL.check(good)
        }
        for bad in ["", "ftp://x", "HTTP://x", "http://", "http://:80", "http://x/", "http://x?y", "http://x#y", "http://u@x",
                    "http://x:0", "http://x:65536", "http://x:8a", "http://x y", "http://x\u{1B}", "http://é.example", "http://[::1",
                    "http://127.0.0.%31", "http://%6cocalhost", "http://[fe80::1%25eth0]", "http://localhost.", "http://127.1",
                    "http://0x7f.0.0.1", "http://010.0.0.1", "http://1.2.3.4.5", "http://[x]", "http://a]b", "http://::1", "http://-a.example",
                    "http://a_b.example", "http://a..b", "http://256.0.0.1"] {
            #expect(throws: ProtocolError.self, "\(bad)") { try RelayURL.check(bad) }
        }
        #expect(try RelayURL.check("http://[::1]:9000").host == "[::1]")
        #expect(try RelayURL.check("http://[::1]:9000").port == 9000)
    }

    @Test func u64FieldsAboveTwoToTheSixtyThreeAreMalformed() throws {
        var w = ByteWriter(); w.u64(UInt64(Int64.max)); w.u64(UInt64(Int64.max) + 1)
        var r = ByteReader(w.bytes, what: "test")
        #expect(try r.u64() == UInt64(Int64.max))
        #expect(throws: ProtocolError.self) { try r.u64() }
    }

    @Test func base64urlIsCanonical() {
        #expect(Base64URL.decode("AA") == [0])
        #expect(Base64URL.decode("AB") == nil, "leftover bits must be zero")
        #expect(Base64URL.decode("AAA") == [0, 0])
        #expect(Base64URL.decode("AAB") == nil)
    }

    @Test func envelopeSizesAreFixedByType() {
        #expect(throws: ProtocolError.self) { try Envelope(bytes: Array("KITH".utf8) + [1, 2, 0]) }
        #expect(throws: ProtocolError.self) { try Envelope(bytes: Envelope(kind: .post, payload: randomBytes(Post.payloadOverhead + 640)).bytes) }
        #expect(throws: ProtocolError.self) { try Envelope(bytes: Envelope(kind: .post, payload: randomBytes(Post.payloadOverhead + 131_072)).bytes) }
        #expect(throws: ProtocolError.self) { try Envelope(bytes: Envelope(kind: .keyMessage, payload: randomBytes(303)).bytes) }
        #expect((try? Envelope(bytes: Envelope(kind: .post, payload: randomBytes(Post.payloadOverhead + 65_536)).bytes)) != nil)
        #expect((try? Envelope(bytes: Envelope(kind: .keyMessage, payload: randomBytes(304)).bytes)) != nil)
    }
}

@Suite struct SignedRequestTests {
    @Test func verifiesAndRefusesChanges() throws {
        let key = SigningKey()
        let r = SignedRequest(method: "GET", path: "/v1/x?limit=5", body: [], mailboxKey: key, timestamp: now)
        let headers = Dictionary(uniqueKeysWithValues: r.headers)
        let parsed = try SignedRequest { headers[$0] }
        try parsed.verify(method: "GET", path: "/v1/x?limit=5", body: [], now: now + 10)
        #expect(throws: ProtocolError.self) { try parsed.verify(method: "POST", path: "/v1/x?limit=5", body: [], now: now) }
        #expect(throws: ProtocolError.self) { try parsed.verify(method: "GET", path: "/v1/x?limit=6", body: [], now: now) }
        #expect(throws: ProtocolError.self) { try parsed.verify(method: "GET", path: "/v1/x?limit=5", body: [1], now: now) }
        let stale = #expect(throws: ProtocolError.self) { try parsed.verify(method: "GET", path: "/v1/x?limit=5", body: [], now: now + 301) }
        #expect(stale?.kind == .malformed)
    }

    @Test func dropRequestRoundTripsAndRefusesGarbage() throws {
        let env = Envelope(kind: .post, payload: randomBytes(Post.payloadOverhead + 1024)).bytes
        let req = DropRequest(targets: [.init(mailbox: randomBytes(32), token: randomBytes(32))], envelope: env)
        let parsed = try DropRequest(bytes: req.bytes)
        #expect(parsed.targets == req.targets && parsed.envelope == env)
        #expect(throws: ProtocolError.self) { try DropRequest(bytes: Array(req.bytes.dropLast())) }
        #expect(throws: ProtocolError.self) { try DropRequest(bytes: req.bytes + [0]) }
        #expect(throws: ProtocolError.self) { try DropRequest(bytes: [1, 0, 0]) }
    }
}

extension Array where Element: Equatable {
    func contains(subsequence s: [Element]) -> Bool {
        guard !s.isEmpty, s.count <= count else { return false }
        return (0...(count - s.count)).contains { Array(self[$0..<$0 + s.count]) == s }
    }
}
