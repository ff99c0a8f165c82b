import KithCrypto

/// Where and how to drop envelopes for someone: a relay, a mailbox on it, and
/// the drop token that mailbox's owner issued to the holder of the card.
public struct Inbox: Equatable, Sendable, Codable {
    public let relay: String
    public let mailbox: [UInt8]
    public let dropToken: [UInt8]

    public init(relay: String, mailbox: [UInt8], dropToken: [UInt8]) {
        self.relay = relay
        self.mailbox = mailbox
        self.dropToken = dropToken
    }
}

/// A signed, versioned contact card: what a friend needs to send to me.
/// Its text form is one line, `kith-card:` followed by base64url.
public struct ContactCard: Equatable, Sendable {
    public static let prefix = "kith-card:"
    public static let version: UInt8 = 1
    public static let maxNameBytes = 64
    public static let maxInboxes = 8
    public static let maxURLBytes = 512
    /// The longest card's bytes: the longest name and the most inboxes with the longest URLs.
    public static let maxBytes = 1 + 32 + EncryptionKeyCertificate.length + 8 + 8 + 1 + maxNameBytes + 1 + maxInboxes * (2 + maxURLBytes + 64) + 64
    static let context = "kith/card/v1"

    public let identity: [UInt8]
    public let encryptionKey: EncryptionKeyCertificate
    /// Increases with every card issued; a newer card replaces an older one.
    public let sequence: UInt64
    public let createdAt: UInt64
    public let name: String
    public let inboxes: [Inbox]
    public let signature: [UInt8]

    public init(identity: SigningKey, encryptionKey: EncryptionKeyCertificate, sequence: UInt64, createdAt: UInt64, name: String, inboxes: [Inbox]) throws {
        try Self.checkName(name)
        guard (1...Self.maxInboxes).contains(inboxes.count) else { throw ProtocolError.malformed("card: needs 1 to \(Self.maxInboxes) inboxes") }
        for inbox in inboxes { try Self.checkInbox(inbox) }
        self.identity = identity.publicKey
        self.encryptionKey = encryptionKey
        self.sequence = sequence
        self.createdAt = createdAt
        self.name = name
        self.inboxes = inboxes
        self.signature = identity.sign(signedMessage(context: Self.context, Self.body(identity.publicKey, encryptionKey, sequence, createdAt, name, inboxes)))
    }

    private init(identity: [UInt8], encryptionKey: EncryptionKeyCertificate, sequence: UInt64, createdAt: UInt64, name: String, inboxes: [Inbox], signature: [UInt8]) {
        self.identity = identity
        self.encryptionKey = encryptionKey
        self.sequence = sequence
        self.createdAt = createdAt
        self.name = name
        self.inboxes = inboxes
        self.signature = signature
    }

    static func checkName(_ name: String) throws {
        try Name.check(name, field: "card: name")
    }

    static func checkInbox(_ inbox: Inbox) throws {
        guard inbox.mailbox.count == 32, inbox.dropToken.count == 32 else { throw ProtocolError.malformed("card: inbox keys must be 32 bytes") }
        do { try RelayURL.check(inbox.relay) } catch let error as ProtocolError { throw ProtocolError.malformed("card: \(error.detail)") }
    }

    /// Throws `not valid now` unless the card's encryption key may be used at
    /// `time` (see `EncryptionKeyCertificate.isValid(at:)`).
    public func checkValid(at time: UInt64) throws {
        guard encryptionKey.isValid(at: time) else {
            throw ProtocolError(.notValidNow, "card: its encryption key is not valid now (expired or not yet valid)")
        }
    }

    static func body(_ identity: [UInt8], _ enc: EncryptionKeyCertificate, _ seq: UInt64, _ created: UInt64, _ name: String, _ inboxes: [Inbox]) -> [UInt8] {
        var w = ByteWriter()
        w.u8(version)
        w.raw(identity)
        enc.write(to: &w)
        w.u64(seq)
        w.u64(created)
        w.string8(name)
        w.u8(UInt8(inboxes.count))
        for inbox in inboxes {
            w.string16(inbox.relay)
            w.raw(inbox.mailbox)
            w.raw(inbox.dropToken)
        }
        return w.bytes
    }

    public var bytes: [UInt8] {
        Self.body(identity, encryptionKey, sequence, createdAt, name, inboxes) + signature
    }

    public var text: String { Self.prefix + Base64URL.encode(bytes) }

    /// Parses and verifies a card (its signature and its encryption key's)
    /// in its exact text form, give or take white space around it; text as
    /// pasted (quoted, wrapped, among other words) goes through `Pasted`.
    public init(text: String) throws {
        let trimmed = text.trimmingWhitespace()
        guard trimmed.hasPrefix(Self.prefix) else { throw ProtocolError.malformed("card: does not start with \(Self.prefix)") }
        guard let raw = Base64URL.decode(trimmed.dropFirst(Self.prefix.count)) else { throw ProtocolError.malformed("card: not valid base64url") }
        try self.init(bytes: raw)
    }

    public init(bytes raw: [UInt8]) throws {
        var r = ByteReader(raw, what: "card")
        let version = try r.u8()
        guard version == Self.version else { throw ProtocolError(.unsupportedVersion, "card: version \(version) is not supported") }
        let identity = try r.raw(32)
        let enc = try EncryptionKeyCertificate.read(from: &r)
        let seq = try r.u64()
        let created = try r.u64()
        let name = try r.string8(field: "name", max: Self.maxNameBytes)
        try Self.checkName(name)
        let count = Int(try r.u8())
        guard (1...Self.maxInboxes).contains(count) else { throw ProtocolError.malformed("card: needs 1 to \(Self.maxInboxes) inboxes") }
        var inboxes: [Inbox] = []
        for _ in 0..<count {
            let url = try r.string16(field: "relay URL", max: Self.maxURLBytes)
            let inbox = Inbox(relay: url, mailbox: try r.raw(32), dropToken: try r.raw(32))
            try Self.checkInbox(inbox)
            inboxes.append(inbox)
        }
        let signed = r.consumed
        let sig = try r.raw(64)
        try r.finish()
        guard SigningKey.verify(signature: sig, message: signedMessage(context: Self.context, signed), publicKey: identity) else {
            throw ProtocolError(.badSignature, "card: signature does not verify")
        }
        try enc.verify(identity: identity)
        self.init(identity: identity, encryptionKey: enc, sequence: seq, createdAt: created, name: name, inboxes: inboxes, signature: sig)
    }
}

/// A short, human-comparable digest of an identity key: 32 hex digits in
/// groups of four, from BLAKE2b-128 of the key under a fixed context.
public enum Fingerprint {
    public static func of(identity: [UInt8]) -> String {
        let h = Hex.encode(Hash.blake2b(Array("kith/fingerprint/v1".utf8) + [0] + identity, length: 16))
        var groups: [Substring] = []
        var s = Substring(h)
        while !s.isEmpty { groups.append(s.prefix(4)); s = s.dropFirst(4) }
        return groups.joined(separator: " ")
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
