import KithCrypto

/// Drop tokens: 32 random bytes a mailbox owner gives one friend. The relay
/// stores only `DropToken.hash(_:)` and compares hashes.
public enum DropToken {
    public static let length = 32
    public static func hash(_ token: [UInt8]) -> [UInt8] {
        Hash.blake2b(Array("kith/drop-token/v1".utf8) + [0] + token, length: 32)
    }
}

/// One upload: an envelope and the mailboxes it is for, each with its drop
/// token. The relay stores the envelope once and a reference per mailbox.
public struct DropRequest: Sendable {
    public static let version: UInt8 = 1
    public static let maxTargets = 1000

    public struct Target: Equatable, Sendable {
        public let mailbox: [UInt8]
        public let token: [UInt8]
        public init(mailbox: [UInt8], token: [UInt8]) { self.mailbox = mailbox; self.token = token }
    }

    /// Targets in their wire form (mailbox || token, 64 bytes each): an
    /// audience's list is encoded once and reused for every upload to it.
    public struct Targets: Equatable, Sendable {
        public let count: Int
        let bytes: [UInt8]

        public init(_ targets: [Target]) {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(64 * targets.count)
            for t in targets {
                bytes.append(contentsOf: t.mailbox)
                bytes.append(contentsOf: t.token)
            }
            self.count = targets.count
            self.bytes = bytes
        }

        init(encoded: [UInt8]) {
            self.count = encoded.count / 64
            self.bytes = encoded
        }

        public var list: [Target] {
            (0..<count).map { i in
                Target(mailbox: Array(bytes[64 * i..<64 * i + 32]), token: Array(bytes[64 * i + 32..<64 * i + 64]))
            }
        }
    }

    public let targets: Targets
    public let envelope: [UInt8]

    public init(targets: Targets, envelope: [UInt8]) {
        self.targets = targets
        self.envelope = envelope
    }

    public init(targets: [Target], envelope: [UInt8]) {
        self.init(targets: Targets(targets), envelope: envelope)
    }

    public var bytes: [UInt8] {
        var w = ByteWriter(capacity: 7 + targets.bytes.count + envelope.count)
        w.u8(Self.version)
        w.u16(UInt16(targets.count))
        w.raw(targets.bytes)
        w.u32(UInt32(envelope.count))
        w.raw(envelope)
        return w.bytes
    }

    public init(bytes: [UInt8]) throws {
        var r = ByteReader(bytes, what: "drop")
        let v = try r.u8()
        guard v == Self.version else { throw ProtocolError(.unsupportedVersion, "drop: version \(v) is not supported") }
        let n = Int(try r.u16())
        guard (1...Self.maxTargets).contains(n) else { throw ProtocolError.malformed("drop: needs 1 to \(Self.maxTargets) targets") }
        let targets = Targets(encoded: try r.raw(64 * n))
        // One mailbox named twice would be counted twice in `accepted`.
        var seen = Set<ArraySlice<UInt8>>()
        for i in 0..<n where !seen.insert(targets.bytes[64 * i..<64 * i + 32]).inserted {
            throw ProtocolError.malformed("drop: target \(i) names a mailbox named before")
        }
        let len = Int(try r.u32())
        guard len <= Envelope.maxLength else { throw ProtocolError.malformed("drop: envelope larger than \(Envelope.maxLength) bytes") }
        let env = try r.raw(len)
        try r.finish()
        _ = try Envelope(bytes: env)
        self.targets = targets
        self.envelope = env
    }
}

/// The body of a blob upload (`POST /v1/blobs`): the targets in a drop's
/// form, then the blob itself, which is the rest of the body:
///
///     version u8 (= 1) || count u16 (1 to 1000) || count × (mailbox (32) || token (32)) || blob
///
/// The relay reads the header with `parse` and streams the blob from `blobStart`.
public enum BlobUpload {
    public static let version: UInt8 = 1
    /// The shortest blob: a secretstream header and one empty chunk.
    public static let minBlobLength = 41

    /// Everything before the blob.
    public static func header(targets: DropRequest.Targets) -> [UInt8] {
        precondition((1...DropRequest.maxTargets).contains(targets.count))
        var w = ByteWriter(capacity: 3 + targets.bytes.count)
        w.u8(version)
        w.u16(UInt16(targets.count))
        w.raw(targets.bytes)
        return w.bytes
    }

    /// The targets and the offset of the blob in `body`. `malformed` for a
    /// bad count, a mailbox named twice, or a blob shorter than 41 bytes;
    /// the relay checks the blob's largest length itself.
    public static func parse(_ body: [UInt8]) throws -> (targets: [DropRequest.Target], blobStart: Int) {
        var r = ByteReader(body, what: "blob upload")
        let v = try r.u8()
        guard v == version else { throw ProtocolError(.unsupportedVersion, "blob upload: version \(v) is not supported") }
        let n = Int(try r.u16())
        guard (1...DropRequest.maxTargets).contains(n) else { throw ProtocolError.malformed("blob upload: needs 1 to \(DropRequest.maxTargets) targets") }
        let targets = DropRequest.Targets(encoded: try r.raw(64 * n))
        var seen = Set<ArraySlice<UInt8>>()
        for i in 0..<n where !seen.insert(targets.bytes[64 * i..<64 * i + 32]).inserted {
            throw ProtocolError.malformed("blob upload: target \(i) names a mailbox named before")
        }
        guard r.remaining >= minBlobLength else { throw ProtocolError.malformed("blob upload: blob shorter than \(minBlobLength) bytes") }
        return (targets.list, 3 + 64 * n)
    }
}

/// A relay's answer to a drop: the envelope id, how many targets' mailboxes
/// hold it now, and which targets it refused and why.
public struct DropResult: Codable, Equatable, Sendable {
    public let id: String
    public let accepted: Int
    /// Indexes into the request's targets whose mailbox or token was not
    /// valid: trying them again cannot help.
    public let refused: [Int]
    /// Indexes into the request's targets whose mailbox is full: nothing was
    /// stored for them, and they can be tried again later (not before
    /// `retryAfter` seconds). Empty in the answers of relays that predate it.
    public let full: [Int]
    /// Seconds the relay asks to wait before trying the `full` targets again.
    public var retryAfter: UInt64?

    enum CodingKeys: String, CodingKey {
        case id, accepted, refused, full
        case retryAfter = "retry_after"
    }

    public init(id: String, accepted: Int, refused: [Int], full: [Int] = [], retryAfter: UInt64? = nil) {
        self.id = id; self.accepted = accepted; self.refused = refused; self.full = full; self.retryAfter = retryAfter
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        accepted = try c.decode(Int.self, forKey: .accepted)
        refused = try c.decode([Int].self, forKey: .refused)
        full = try c.decodeIfPresent([Int].self, forKey: .full) ?? []
        retryAfter = try c.decodeIfPresent(UInt64.self, forKey: .retryAfter)
    }
}

/// Envelopes waiting in a mailbox, oldest first, as returned by a fetch.
public struct FetchedBatch: Sendable {
    public struct Item: Sendable {
        /// The relay's sequence number for this delivery: a fetch `after` it
        /// continues from here, before this batch is acknowledged.
        public let sequence: UInt64
        public let receivedAt: UInt64
        public let envelope: [UInt8]
        public init(sequence: UInt64, receivedAt: UInt64, envelope: [UInt8]) {
            self.sequence = sequence
            self.receivedAt = receivedAt
            self.envelope = envelope
        }
    }

    /// A relay fills a batch up to this many bytes of envelopes (or one
    /// envelope, if larger). Relays before this limit used 16 MiB.
    public static let maxBytes = 4 << 20
    /// The most bytes a client needs to accept for one batch: sized for the
    /// older 16 MiB fill, so clients still read batches from such relays.
    public static let maxEncodedBytes = (16 << 20) + Envelope.maxLength + 5 + 20 * 10_001

    public let items: [Item]
    /// True when more were waiting than this batch holds.
    public let more: Bool

    public init(items: [Item], more: Bool) { self.items = items; self.more = more }

    public var bytes: [UInt8] {
        var w = ByteWriter(capacity: 5 + items.reduce(0) { $0 + 20 + $1.envelope.count })
        w.u8(more ? 1 : 0)
        w.u32(UInt32(items.count))
        for i in items { w.u64(i.sequence); w.u64(i.receivedAt); w.u32(UInt32(i.envelope.count)); w.raw(i.envelope) }
        return w.bytes
    }

    public init(bytes: [UInt8]) throws {
        var r = ByteReader(bytes, what: "fetch response")
        let more = try r.u8()
        guard more <= 1 else { throw ProtocolError.malformed("fetch response: bad flag") }
        let n = Int(try r.u32())
        var items: [Item] = []
        for _ in 0..<n {
            let sequence = try r.u64()
            let at = try r.u64()
            let len = Int(try r.u32())
            guard len <= Envelope.maxLength else { throw ProtocolError.malformed("fetch response: envelope too large") }
            items.append(Item(sequence: sequence, receivedAt: at, envelope: try r.raw(len)))
        }
        try r.finish()
        self.items = items
        self.more = more == 1
    }
}

/// Envelope ids the owner has committed locally and the relay may drop.
public struct AckRequest: Sendable {
    public static let maxIDs = 10_000
    public let ids: [[UInt8]]

    public init(ids: [[UInt8]]) { self.ids = ids }

    public var bytes: [UInt8] {
        var w = ByteWriter()
        w.u32(UInt32(ids.count))
        for id in ids { w.raw(id) }
        return w.bytes
    }

    public init(bytes: [UInt8]) throws {
        var r = ByteReader(bytes, what: "ack")
        let n = Int(try r.u32())
        guard (1...Self.maxIDs).contains(n) else { throw ProtocolError.malformed("ack: needs 1 to \(Self.maxIDs) ids") }
        var ids: [[UInt8]] = []
        for _ in 0..<n { ids.append(try r.raw(32)) }
        try r.finish()
        self.ids = ids
    }
}
