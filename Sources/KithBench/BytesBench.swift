import Foundation
import KithCrypto
import KithProtocol

/// What one 1 KiB post costs in bytes, beside the same post as Nostr NIP-17
/// gift wraps.
enum BytesBench {
    /// Bytes of one delivery reference row on the relay at most (mailbox id,
    /// envelope id; body number, sequence number, arrival time, size and
    /// expiry, SQLite storing each integer in 8 bytes or fewer), not counting
    /// SQLite's own page overhead.
    static let referenceBytes = 32 + 32 + 5 * 8

    static func costs(recipients: [Int]) throws -> [ByteCost] {
        let alice = SigningKey()
        let audience = AudienceKey(owner: alice.publicKey, audienceID: randomBytes(16), epoch: 1, key: SecretBytes(random: 32))
        let envelope = try Post(author: alice.publicKey, audienceID: audience.audienceID, epoch: 1, id: randomBytes(Post.idLength),
                                createdAt: 1_790_000_000, text: CryptoBench.text).seal(author: alice, audience: audience).bytes
        return recipients.map { r in
            let targets = (0..<r).map { _ in DropRequest.Target(mailbox: randomBytes(32), token: randomBytes(32)) }
            let upload = DropRequest(targets: targets, envelope: envelope).bytes.count
            return ByteCost(recipients: r, envelope: envelope.count, kithUpload: upload,
                            kithStored: envelope.count + r * referenceBytes, nip17: (r + 1) * NIP17.giftWrapBytes(contentBytes: 1024))
        }
    }
}

/// NIP-17 sizes from the NIP-44 (v2) and NIP-59 rules: a kind-14 rumor (unsigned)
/// is NIP-44-encrypted into a kind-13 seal (signed), which is NIP-44-encrypted
/// into a kind-1059 gift wrap (signed by a random key), one per recipient and
/// one for the sender.
enum NIP17 {
    static let formula = "NIP-17 = (recipients + 1) × wrap; wrap = JSON(kind 1059, content = b64(nip44(JSON(kind 13, content = b64(nip44(JSON(kind 14 rumor)))))))"
        + "; nip44(n) = 1 + 32 + 2 + pad(n) + 32 bytes, pad per NIP-44 v2"

    /// NIP-44 v2 `calc_padded_len`.
    static func paddedLength(_ n: Int) -> Int {
        if n <= 32 { return 32 }
        let nextPower = 1 << (Int.bitWidth - (n - 1).leadingZeroBitCount)
        let chunk = nextPower <= 256 ? 32 : nextPower / 8
        return chunk * ((n - 1) / chunk + 1)
    }

    /// Length of a NIP-44 v2 payload (base64) for a plaintext of `n` bytes.
    static func payloadLength(_ n: Int) -> Int {
        let raw = 1 + 32 + 2 + paddedLength(n) + 32
        return 4 * ((raw + 2) / 3)
    }

    /// A Nostr event's JSON with fields of their real lengths.
    static func eventJSON(kind: Int, pTag: Bool, contentBytes: Int, signed: Bool) -> Int {
        let hex64 = String(repeating: "a", count: 64)
        let tags = pTag ? "[[\"p\",\"\(hex64)\"]]" : "[]"
        var json = "{\"id\":\"\(hex64)\",\"pubkey\":\"\(hex64)\",\"created_at\":1790000000,\"kind\":\(kind),\"tags\":\(tags),\"content\":\""
        json += String(repeating: "x", count: contentBytes) + "\""
        if signed { json += ",\"sig\":\"" + String(repeating: "b", count: 128) + "\"" }
        return json.utf8.count + 1
    }

    static func giftWrapBytes(contentBytes: Int) -> Int {
        let rumor = eventJSON(kind: 14, pTag: true, contentBytes: contentBytes, signed: false)
        let seal = eventJSON(kind: 13, pTag: false, contentBytes: payloadLength(rumor), signed: true)
        return eventJSON(kind: 1059, pTag: true, contentBytes: payloadLength(seal), signed: true)
    }
}
