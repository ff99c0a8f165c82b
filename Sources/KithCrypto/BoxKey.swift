import CSodium

/// An X25519 key pair for anonymous sealed boxes (`crypto_box_seal`).
public struct BoxKey: Sendable {
    public static let publicKeyLength = 32
    public static let secretKeyLength = 32
    public static let sealOverhead = crypto_box_sealbytes()

    public let publicKey: [UInt8]
    private let secret: SecretBytes

    public init() {
        Sodium.ready()
        var pk = [UInt8](repeating: 0, count: Self.publicKeyLength)
        var sk = [UInt8](repeating: 0, count: Self.secretKeyLength)
        _ = crypto_box_keypair(&pk, &sk)
        publicKey = pk
        secret = SecretBytes(consuming: &sk)
    }

    /// Restores a key pair from its 32-byte secret key.
    public init(secretKey: [UInt8]) throws {
        Sodium.ready()
        guard secretKey.count == Self.secretKeyLength else { throw CryptoError.invalidKeyLength(expected: Self.secretKeyLength, got: secretKey.count) }
        var pk = [UInt8](repeating: 0, count: Self.publicKeyLength)
        _ = crypto_scalarmult_base(&pk, secretKey)
        publicKey = pk
        var copy = secretKey
        secret = SecretBytes(consuming: &copy)
    }

    /// A deterministic key pair from a 32-byte seed (`crypto_box_seed_keypair`), for test vectors.
    public init(seed: [UInt8]) throws {
        Sodium.ready()
        guard seed.count == Int(crypto_box_SEEDBYTES) else { throw CryptoError.invalidKeyLength(expected: Int(crypto_box_SEEDBYTES), got: seed.count) }
        var pk = [UInt8](repeating: 0, count: Self.publicKeyLength)
        var sk = [UInt8](repeating: 0, count: Self.secretKeyLength)
        _ = crypto_box_seed_keypair(&pk, &sk, seed)
        publicKey = pk
        secret = SecretBytes(consuming: &sk)
    }

    /// The secret key, for the encrypted keystore. The caller must wipe it.
    public func exportSecret() -> [UInt8] { secret.copyBytes() }

    /// Seals `message` to `publicKey`; only the holder of the secret key can open it,
    /// and nothing in the result identifies the sender.
    public static func seal(_ message: [UInt8], to publicKey: [UInt8]) throws -> [UInt8] {
        Sodium.ready()
        guard publicKey.count == publicKeyLength else { throw CryptoError.invalidKeyLength(expected: publicKeyLength, got: publicKey.count) }
        var out = [UInt8](repeating: 0, count: message.count + sealOverhead)
        guard crypto_box_seal(&out, message, UInt64(message.count), publicKey) == 0 else { throw CryptoError.decryptionFailed }
        return out
    }

    /// Opens a sealed box addressed to this key.
    public func open(_ sealed: [UInt8]) throws -> [UInt8] {
        guard sealed.count >= Self.sealOverhead else { throw CryptoError.decryptionFailed }
        var out = [UInt8](repeating: 0, count: sealed.count - Self.sealOverhead)
        let rc = secret.withBytes { sk in
            crypto_box_seal_open(&out, sealed, UInt64(sealed.count), publicKey, sk)
        }
        guard rc == 0 else { throw CryptoError.decryptionFailed }
        return out
    }
}
