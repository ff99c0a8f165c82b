import CSodium
import Foundation
import KithCrypto
import KithProtocol

/// Seal and open a 1 KiB post, against one Ed25519 operation plus one
/// XChaCha20-Poly1305 operation on the same 1 KiB straight through libsodium.
enum CryptoBench {
    static let text = String(repeating: "kith ", count: 205).prefix(1024).description
    static let audienceSize = 150

    static func seal(count: Int) throws -> BenchCase {
        let alice = SigningKey()
        let audience = AudienceKey(owner: alice.publicKey, audienceID: randomBytes(16), epoch: 1, key: SecretBytes(random: 32))
        // The audience's targets, encoded once as a node keeps them.
        let targets = DropRequest.Targets((0..<audienceSize).map { _ in DropRequest.Target(mailbox: randomBytes(32), token: randomBytes(32)) })
        let floor = Floor()
        let result = try Measure.compare(rounds: 3, count: count, ours: {
            // A post for the whole audience: one ciphertext, and the upload naming 150 mailboxes.
            let post = try Post(author: alice.publicKey, audienceID: audience.audienceID, epoch: 1, id: randomBytes(Post.idLength),
                                createdAt: 1_790_000_000, text: text)
            let envelope = try post.seal(author: alice, audience: audience)
            _ = DropRequest(targets: targets, envelope: envelope.bytes).bytes
        }, floor: floor.seal)
        return BenchCase(name: "seal (1 KiB, 150 recipients)", unit: "posts/s", ours: result.ours, floor: result.floor, target: 0.8,
                         note: "floor: crypto_sign_detached + crypto_aead_xchacha20poly1305_ietf_encrypt of the 1 KiB text")
    }

    static func open(count: Int) throws -> BenchCase {
        let alice = SigningKey()
        let audience = AudienceKey(owner: alice.publicKey, audienceID: randomBytes(16), epoch: 1, key: SecretBytes(random: 32))
        let bytes = try Post(author: alice.publicKey, audienceID: audience.audienceID, epoch: 1, id: randomBytes(Post.idLength),
                             createdAt: 1_790_000_000, text: text).seal(author: alice, audience: audience).bytes
        let floor = Floor()
        let sealed = floor.sealOnce()
        let result = try Measure.compare(rounds: 3, count: count, ours: {
            _ = try Post.open(try Envelope(bytes: bytes), audience: audience, now: 1_790_000_000)
        }, floor: { try floor.open(sealed) })
        return BenchCase(name: "open (1 KiB)", unit: "posts/s", ours: result.ours, floor: result.floor, target: 0.8,
                         note: "floor: crypto_sign_verify_detached + crypto_aead_xchacha20poly1305_ietf_decrypt of the 1 KiB text")
    }

    /// The floor: raw libsodium on the 1 KiB text.
    final class Floor {
        let message = Array(CryptoBench.text.utf8)
        var pk = [UInt8](repeating: 0, count: 32)
        var sk = [UInt8](repeating: 0, count: 64)
        var key = [UInt8](repeating: 0, count: 32)

        init() {
            _ = sodium_init()
            crypto_sign_keypair(&pk, &sk)
            randombytes_buf(&key, 32)
        }

        func seal() {
            _ = sealOnce()
        }

        func sealOnce() -> (sig: [UInt8], nonce: [UInt8], ct: [UInt8]) {
            var sig = [UInt8](repeating: 0, count: 64)
            crypto_sign_detached(&sig, nil, message, UInt64(message.count), sk)
            var nonce = [UInt8](repeating: 0, count: 24)
            randombytes_buf(&nonce, 24)
            var ct = [UInt8](repeating: 0, count: message.count + 16)
            var len: UInt64 = 0
            crypto_aead_xchacha20poly1305_ietf_encrypt(&ct, &len, message, UInt64(message.count), nil, 0, nil, nonce, key)
            return (sig, nonce, ct)
        }

        struct Failed: Error {}

        func open(_ s: (sig: [UInt8], nonce: [UInt8], ct: [UInt8])) throws {
            var plain = [UInt8](repeating: 0, count: s.ct.count - 16)
            var len: UInt64 = 0
            guard crypto_aead_xchacha20poly1305_ietf_decrypt(&plain, &len, nil, s.ct, UInt64(s.ct.count), nil, 0, s.nonce, key) == 0,
                  crypto_sign_verify_detached(s.sig, plain, UInt64(plain.count), pk) == 0 else { throw Failed() }
        }
    }
}
