import Foundation
import KithCrypto
import KithProtocol
import Testing

/// One vector file: `key: value` lines, a blank line, the structure.
struct Vector: CustomStringConvertible {
    let file: String
    let fields: [String: String]
    let body: String

    var description: String { file }

    init(path: String) throws {
        file = (path as NSString).lastPathComponent
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let parts = text.components(separatedBy: "\n\n")
        var fields: [String: String] = [:]
        for line in parts[0].split(separator: "\n") {
            let kv = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            fields[kv[0]] = kv[1]
        }
        self.fields = fields
        body = parts.dropFirst().joined(separator: "\n\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func hex(_ key: String) -> [UInt8] { Hex.decode(fields[key]!)! }

    static func all() throws -> [Vector] {
        let dir = Bundle.module.resourceURL!.appendingPathComponent("Vectors").path
        return try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".txt") }.sorted()
            .map { try Vector(path: (dir as NSString).appendingPathComponent($0)) }
    }
}

/// Runs a vector's decoder; returns the failure kind, or "success" after
/// checking every expected field.
func outcome(of v: Vector) throws -> String {
    do {
        switch v.fields["kind"] {
        case "card":
            let card = try ContactCard(text: v.body)
            #expect(card.identity == v.hex("identity"))
            #expect(card.name == v.fields["name"])
            #expect(Fingerprint.of(identity: card.identity) == v.fields["fingerprint"])
            #expect(card.text == v.body, "re-encoding must give the same card")
        case "key-message":
            let envelope = try Envelope(bytes: Hex.decode(v.body)!)
            let key = try BoxKey(secretKey: v.hex("recipient-encryption-secret"))
            let message = try KeyMessage.open(envelope, keys: [key], me: v.hex("recipient-identity"))
            #expect(message.audience.owner == v.hex("owner"))
            #expect(message.audience.audienceID == v.hex("audience-id"))
            #expect(message.audience.epoch == UInt32(v.fields["epoch"]!))
            #expect(message.audience.key.copyBytes() == v.hex("epoch-key"))
            #expect(message.audienceName == v.fields["audience-name"])
        case "post":
            let envelope = try Envelope(bytes: Hex.decode(v.body)!)
            var key = v.hex("epoch-key")
            let audience = AudienceKey(owner: v.hex("owner"), audienceID: v.hex("audience-id"),
                                       epoch: UInt32(v.fields["epoch"]!)!, key: SecretBytes(consuming: &key))
            let post = try Post.open(envelope, audience: audience)
            #expect(post.author == v.hex("author"))
            #expect(post.id == v.hex("post-id"))
            #expect(post.createdAt == UInt64(v.fields["created-at"]!))
            #expect(post.text == v.fields["text"])
            #expect(envelope.payload.count == 16 + 24 + Int(v.fields["padded-length"]!)! + 16)
        case "request":
            let message = SignedRequest.message(method: v.fields["method"]!, path: v.fields["path"]!,
                                                timestamp: UInt64(v.fields["timestamp"]!)!, nonce: v.hex("nonce"), body: v.hex("body"))
            guard SigningKey.verify(signature: Hex.decode(v.body)!, message: message, publicKey: v.hex("mailbox")) else {
                throw ProtocolError(.badSignature, "request signature")
            }
        default:
            Issue.record("unknown vector kind in \(v.file)")
        }
        return "success"
    } catch let error as ProtocolError {
        return error.kind.rawValue
    }
}

@Suite struct VectorTests {
    @Test func vectorsCoverEveryStructureAndFailureKind() throws {
        let vectors = try Vector.all()
        #expect(vectors.count >= 29)
        let kinds = Set(vectors.compactMap { $0.fields["kind"] })
        #expect(kinds == ["card", "key-message", "post", "request"])
        let expects = Set(vectors.compactMap { $0.fields["expect"] })
        for kind in ProtocolError.Kind.allCases {
            #expect(expects.contains(kind.rawValue), "no vector expects \(kind.rawValue)")
        }
    }

    @Test(arguments: try Vector.all())
    func vector(_ v: Vector) throws {
        #expect(try outcome(of: v) == v.fields["expect"])
    }
}
