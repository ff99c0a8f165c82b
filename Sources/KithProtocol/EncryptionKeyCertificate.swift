import KithCrypto

/// An X25519 encryption public key, signed by an identity key, with a
/// validity window. Key messages are sealed to it.
public struct EncryptionKeyCertificate: Equatable, Sendable {
    public static let length = 32 + 8 + 8 + 64
    /// The longest window a certificate may have: 400 days.
    public static let maxLifetime: UInt64 = 400 * 24 * 3600
    /// How far a receiver's clock may be behind the signer's: a key whose
    /// window starts up to this many seconds from now is already usable.
    public static let clockSkew: UInt64 = 300
    static let context = "kith/encryption-key/v1"

    public let publicKey: [UInt8]
    /// Unix seconds.
    public let notBefore: UInt64
    public let notAfter: UInt64
    public let signature: [UInt8]

    /// Signs `publicKey` with `identity` for the window [notBefore, notAfter).
    public init(publicKey: [UInt8], notBefore: UInt64, notAfter: UInt64, signedBy identity: SigningKey) {
        self.publicKey = publicKey
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.signature = identity.sign(Self.message(identity: identity.publicKey, publicKey: publicKey, notBefore: notBefore, notAfter: notAfter))
    }

    init(publicKey: [UInt8], notBefore: UInt64, notAfter: UInt64, signature: [UInt8]) {
        self.publicKey = publicKey
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.signature = signature
    }

    static func message(identity: [UInt8], publicKey: [UInt8], notBefore: UInt64, notAfter: UInt64) -> [UInt8] {
        var w = ByteWriter()
        w.raw(identity); w.raw(publicKey); w.u64(notBefore); w.u64(notAfter)
        return signedMessage(context: context, w.bytes)
    }

    public func write(to w: inout ByteWriter) {
        w.raw(publicKey); w.u64(notBefore); w.u64(notAfter); w.raw(signature)
    }

    public static func read(from r: inout ByteReader) throws -> EncryptionKeyCertificate {
        let pk = try r.raw(32), nb = try r.u64(), na = try r.u64(), sig = try r.raw(64)
        return EncryptionKeyCertificate(publicKey: pk, notBefore: nb, notAfter: na, signature: sig)
    }

    /// Checks the signature by `identity` and that the window is well formed.
    public func verify(identity: [UInt8]) throws {
        guard notBefore < notAfter else { throw ProtocolError.malformed("encryption key: empty validity window") }
        guard notAfter - notBefore <= Self.maxLifetime else { throw ProtocolError.malformed("encryption key: validity window longer than 400 days") }
        guard SigningKey.verify(signature: signature, message: Self.message(identity: identity, publicKey: publicKey, notBefore: notBefore, notAfter: notAfter), publicKey: identity) else {
            throw ProtocolError(.badSignature, "encryption key: signature does not verify")
        }
    }

    /// Whether the key may be used at `time`: `not_before - 300 <= time < not_after`.
    public func isValid(at time: UInt64) -> Bool { notBefore <= time + Self.clockSkew && time < notAfter }
}
