import KithCrypto

/// Tells one friend that one of my inboxes was added or removed, between
/// cards: signed by my identity, naming the friend, sealed to the friend's
/// encryption key in a key-channel envelope (type 1) as inner type 3, padded
/// like a key message, so a relay cannot tell it from a key message or a
/// key update.
///
/// One update carries one change, so that it fits the key channel's 255
/// bytes: a full inbox set (up to 8 inboxes with URLs of up to 512 bytes)
/// cannot. Changes are ordered by `sequence`, which counts with my cards';
/// a receiver keeps, per inbox, the newest change, so updates may arrive in
/// any order (docs/PROTOCOL.md, "Inbox update").
public struct InboxUpdate: Equatable, Sendable {
    /// The inner message type (a key message's is 1, a key update's 2).
    public static let type: UInt8 = 3
    static let context = "kith/inbox-update/v1"

    public enum Change: UInt8, Sendable {
        /// From now on, also drop into this inbox with this token.
        case add = 1
        /// Drop into this inbox no more.
        case remove = 2
    }

    /// type, sender, recipient, sequence, change, the relay's length, mailbox, signature.
    static let fixedLength = 1 + 32 + 32 + 8 + 1 + 2 + 32 + 64
    /// The longest relay URL an update can carry: what is left of the key
    /// channel's 255 bytes (51 bytes for an addition, which carries a drop
    /// token, 83 for a removal).
    public static func maxRelayBytes(_ change: Change) -> Int {
        KeyMessage.paddedLength - 1 - fixedLength - (change == .add ? DropToken.length : 0)
    }

    /// Whose inbox this is: the identity that signed the update.
    public let sender: [UInt8]
    /// The friend it is for: an update cannot be re-sealed to someone else.
    public let recipient: [UInt8]
    /// Orders the sender's changes with its cards: a change applies only
    /// over a card, and over a change to the same inbox, of a lower sequence.
    public let sequence: UInt64
    public let change: Change
    /// The inbox; for a removal, its drop token is empty.
    public let relay: String
    public let mailbox: [UInt8]
    public let dropToken: [UInt8]

    /// An addition: the friend may drop into `inbox` with its token from now on.
    public init(sender: [UInt8], recipient: [UInt8], sequence: UInt64, adding inbox: Inbox) {
        self.init(sender: sender, recipient: recipient, sequence: sequence, change: .add, relay: inbox.relay, mailbox: inbox.mailbox, dropToken: inbox.dropToken)
    }

    /// A removal of the inbox at `relay` whose mailbox key is `mailbox`.
    public init(sender: [UInt8], recipient: [UInt8], sequence: UInt64, removingRelay relay: String, mailbox: [UInt8]) {
        self.init(sender: sender, recipient: recipient, sequence: sequence, change: .remove, relay: relay, mailbox: mailbox, dropToken: [])
    }

    init(sender: [UInt8], recipient: [UInt8], sequence: UInt64, change: Change, relay: String, mailbox: [UInt8], dropToken: [UInt8]) {
        self.sender = sender
        self.recipient = recipient
        self.sequence = sequence
        self.change = change
        self.relay = relay
        self.mailbox = mailbox
        self.dropToken = dropToken
    }

    /// The added inbox (nil for a removal).
    public var inbox: Inbox? { change == .add ? Inbox(relay: relay, mailbox: mailbox, dropToken: dropToken) : nil }

    /// Whether this change fits one key-channel message (its relay URL is
    /// short enough) and its fields are well formed.
    public func check() throws {
        guard sender.count == 32, recipient.count == 32, mailbox.count == 32, sequence <= UInt64(Int64.max) else {
            throw ProtocolError.malformed("inbox update: keys must be 32 bytes")
        }
        guard dropToken.count == (change == .add ? DropToken.length : 0) else { throw ProtocolError.malformed("inbox update: bad drop token") }
        do { _ = try RelayURL.check(relay) } catch let error as ProtocolError { throw ProtocolError.malformed("inbox update: \(error.detail)") }
        guard relay.utf8.count <= Self.maxRelayBytes(change) else {
            throw ProtocolError.malformed("inbox update: the relay URL is longer than \(Self.maxRelayBytes(change)) bytes")
        }
    }

    private func body() -> [UInt8] {
        var w = ByteWriter(capacity: KeyMessage.paddedLength)
        w.u8(Self.type)
        w.raw(sender)
        w.raw(recipient)
        w.u64(sequence)
        w.u8(change.rawValue)
        w.string16(relay)
        w.raw(mailbox)
        w.raw(dropToken)
        return w.bytes
    }

    /// Signs with the sender's identity and seals to the friend's current
    /// encryption key. Throws `malformed` if the change does not fit (`check`).
    public func seal(sender identity: SigningKey, to encryptionKey: [UInt8]) throws -> Envelope {
        precondition(identity.publicKey == sender)
        try check()
        let plain = body()
        return try KeyChannel.seal(plain + identity.sign(signedMessage(context: Self.context, plain)), to: encryptionKey)
    }

    /// Opens a key-channel envelope that must hold an inbox update.
    public static func open(_ envelope: Envelope, keys: [BoxKey], me: [UInt8]) throws -> InboxUpdate {
        var inner = try KeyChannel.openInner(envelope, keys: keys)
        defer { wipe(&inner) }
        return try parse(inner: inner, me: me)
    }

    /// Parses and checks an opened, unpadded inner message of type 3: the
    /// fields, the URL rule and trailing bytes (`malformed`), the sender's
    /// signature (`bad signature`), then the recipient (`wrong recipient`).
    static func parse(inner: [UInt8], me: [UInt8]) throws -> InboxUpdate {
        var r = ByteReader(inner, what: "inbox update")
        let type = try r.u8()
        guard type == Self.type else { throw ProtocolError(.unsupportedVersion, "inbox update: type \(type) is not supported") }
        let sender = try r.raw(32)
        let recipient = try r.raw(32)
        let sequence = try r.u64()
        guard let change = Change(rawValue: try r.u8()) else { throw ProtocolError.malformed("inbox update: unknown change") }
        let relay = try r.string16(field: "relay", max: ContactCard.maxURLBytes)
        let mailbox = try r.raw(32)
        let token: [UInt8] = try change == .add ? r.raw(DropToken.length) : []
        let signed = signedMessage(context: Self.context, r.consumed)
        let sig = try r.raw(64)
        try r.finish()
        let update = InboxUpdate(sender: sender, recipient: recipient, sequence: sequence, change: change, relay: relay, mailbox: mailbox, dropToken: token)
        try update.check()
        guard SigningKey.verify(signature: sig, message: signed, publicKey: sender) else {
            throw ProtocolError(.badSignature, "inbox update: sender signature does not verify")
        }
        guard constantTimeEqual(recipient, me) else { throw ProtocolError(.wrongRecipient, "inbox update: addressed to someone else") }
        return update
    }
}
