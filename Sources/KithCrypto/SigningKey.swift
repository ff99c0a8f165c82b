import CSodium

/// An Ed25519 key pair (`crypto_sign`). Used for identities and mailboxes.
public struct SigningKey: Sendable {
    public static let publicKeyLength = 32
    public static let seedLength = 32
    public static let signatureLength = 64

    public let publicKey: [UInt8]
    /// libsodium's 64-byte secret key (seed followed by public key).
    private let secret: SecretBytes

    /// A fresh random key pair.
    public init() {
        var seed = randomBytes(Self.seedLength)
        defer { wipe(&seed) }
        try! self.init(seed: seed)
    }

    /// The key pair determined by a 32-byte seed (used by the keystore and test vectors).
    public init(seed: [UInt8]) throws {
        Sodium.ready()
        guard seed.count == Self.seedLength else { throw CryptoError.invalidKeyLength(expected: Self.seedLength, got: seed.count) }
        var pk = [UInt8](repeating: 0, count: Self.publicKeyLength)
        var sk = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
        _ = crypto_sign_seed_keypair(&pk, &sk, seed)
        publicKey = pk
        secret = SecretBytes(consuming: &sk)
    }

    /// The 32-byte seed, for storing in the encrypted keystore. The caller must wipe it.
    public func exportSeed() -> [UInt8] {
        secret.withBytes { Array($0[0..<Self.seedLength]) }
    }

    /// A detached signature over `message`.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: Self.signatureLength)
        secret.withBytes { sk in
            _ = crypto_sign_detached(&sig, nil, message, UInt64(message.count), sk)
        }
        return sig
    }

    /// Checks a detached signature. Returns false for malformed keys or signatures.
    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        Sodium.ready()
        guard signature.count == signatureLength, publicKey.count == publicKeyLength else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }
}
