import KithCrypto

/// Tells one friend my new encryption key: the certificate signed by my
/// identity, inside a message signed by my identity that names the friend,
/// sealed to the friend's current encryption key. It travels in a
/// key-channel envelope (type 1) as inner type 2, padded like a key
/// message, so a relay cannot tell a rotation from a change of members.
public struct KeyUpdate: Equatable, Sendable {
    /// The inner message type (a key message's is 1).
    public static let type: UInt8 = 2
    static let context = "kith/key-update/v1"
    /// type || sender || recipient || certificate || created_at || signature.
    public static let innerLength = 1 + 32 + 32 + EncryptionKeyCertificate.length + 8 + 64

    /// Whose key this is: the identity that signed the message and the certificate.
    public let sender: [UInt8]
    /// The friend it is for: an update cannot be re-sealed to someone else.
    public let recipient: [UInt8]
    /// The new encryption key, signed by `sender`.
    public let certificate: EncryptionKeyCertificate
    /// Unix seconds.
    public let createdAt: UInt64

    public init(sender: [UInt8], recipient: [UInt8], certificate: EncryptionKeyCertificate, createdAt: UInt64) {
        self.sender = sender
        self.recipient = recipient
        self.certificate = certificate
        self.createdAt = createdAt
    }

    private func body() -> [UInt8] {
        var w = ByteWriter(capacity: Self.innerLength)
        w.u8(Self.type)
        w.raw(sender)
        w.raw(recipient)
        certificate.write(to: &w)
        w.u64(createdAt)
        return w.bytes
    }

    /// Signs with the sender's identity and seals to the friend's current encryption key.
    public func seal(sender identity: SigningKey, to encryptionKey: [UInt8]) throws -> Envelope {
        precondition(identity.publicKey == sender)
        let plain = body()
        return try KeyChannel.seal(plain + identity.sign(signedMessage(context: Self.context, plain)), to: encryptionKey)
    }

    /// Opens a key-channel envelope that must hold a key update.
    public static func open(_ envelope: Envelope, keys: [BoxKey], me: [UInt8]) throws -> KeyUpdate {
        var inner = try KeyChannel.openInner(envelope, keys: keys)
        defer { wipe(&inner) }
        return try parse(inner: inner, me: me)
    }

    /// Parses and checks an opened, unpadded inner message of type 2: the
    /// fields (`malformed`), the sender's signature (`bad signature`), the
    /// recipient (`wrong recipient`), then the certificate, which the sender
    /// must have signed too (`malformed` for a bad window, `bad signature`).
    static func parse(inner: [UInt8], me: [UInt8]) throws -> KeyUpdate {
        var r = ByteReader(inner, what: "key update")
        let type = try r.u8()
        guard type == Self.type else { throw ProtocolError(.unsupportedVersion, "key update: type \(type) is not supported") }
        let sender = try r.raw(32)
        let recipient = try r.raw(32)
        let certificate = try EncryptionKeyCertificate.read(from: &r)
        let created = try r.u64()
        let signed = signedMessage(context: Self.context, r.consumed)
        let sig = try r.raw(64)
        try r.finish()
        guard SigningKey.verify(signature: sig, message: signed, publicKey: sender) else {
            throw ProtocolError(.badSignature, "key update: sender signature does not verify")
        }
        guard constantTimeEqual(recipient, me) else { throw ProtocolError(.wrongRecipient, "key update: addressed to someone else") }
        do { try certificate.verify(identity: sender) } catch let error as ProtocolError {
            throw ProtocolError(error.kind, "key update: \(error.detail)")
        }
        return KeyUpdate(sender: sender, recipient: recipient, certificate: certificate, createdAt: created)
    }
}
