import KithCrypto

/// The sealed key channel: envelopes of type 1 carry either a key message
/// (inner type 1, an audience epoch key) or an encryption-key update (inner
/// type 2) or an inbox update (inner type 3). All are padded to the same 256 bytes and sealed to the
/// recipient's encryption key, so a relay cannot tell a rotation from a
/// change of an audience's members (docs/PROTOCOL.md, "Key channel").
public enum KeyChannel {
    /// What a key-channel envelope held.
    public enum Message: Sendable {
        case keyMessage(KeyMessage)
        case keyUpdate(KeyUpdate)
        case inboxUpdate(InboxUpdate)
    }

    /// Opens a key-channel envelope with one of `keys` (current and
    /// grace-period encryption keys) and parses whichever message it holds,
    /// checking its signature and that it is addressed to `me`. An inner
    /// type other than 1 to 4 is `unsupported version`: the byte is the key
    /// message's version byte of earlier revisions (4 is a key message with flags).
    public static func open(_ envelope: Envelope, keys: [BoxKey], me: [UInt8]) throws -> Message {
        var inner = try openInner(envelope, keys: keys)
        defer { wipe(&inner) }
        switch inner.first {
        case KeyMessage.version, KeyMessage.flaggedType: return .keyMessage(try KeyMessage.parse(inner: inner, me: me))
        case KeyUpdate.type: return .keyUpdate(try KeyUpdate.parse(inner: inner, me: me))
        case InboxUpdate.type: return .inboxUpdate(try InboxUpdate.parse(inner: inner, me: me))
        case let type?: throw ProtocolError(.unsupportedVersion, "key channel: inner type \(type) is not supported")
        case nil: throw ProtocolError.malformed("key channel: empty message")
        }
    }

    /// The payload opened and unpadded: `malformed` for a payload that is not
    /// 304 bytes or bad padding, `no matching key` if no key opens it.
    /// The caller must wipe the result.
    static func openInner(_ envelope: Envelope, keys: [BoxKey]) throws -> [UInt8] {
        guard envelope.kind == .keyMessage else { throw ProtocolError.malformed("key message: wrong envelope type") }
        guard envelope.payload.count == KeyMessage.payloadLength else {
            throw ProtocolError.malformed("key message: not \(KeyMessage.payloadLength) bytes")
        }
        var opened: [UInt8]? = nil
        for key in keys {
            if let plain = try? key.open(envelope.payload) { opened = plain; break }
        }
        guard var padded = opened else { throw ProtocolError(.noMatchingKey, "key message: sealed to none of my encryption keys") }
        defer { wipe(&padded) }
        do { return try Padding.unpad(padded, blockSize: KeyMessage.paddedLength) } catch {
            throw ProtocolError.malformed("key message: bad padding")
        }
    }

    /// Pads a signed inner message and seals it to `encryptionKey`.
    static func seal(_ signed: [UInt8], to encryptionKey: [UInt8]) throws -> Envelope {
        var inner = Padding.pad(signed, blockSize: KeyMessage.paddedLength)
        defer { wipe(&inner) }
        return Envelope(kind: .keyMessage, payload: try BoxKey.seal(inner, to: encryptionKey))
    }
}
