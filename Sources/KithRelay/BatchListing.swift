import KithProtocol

/// The deliveries one fetch returns, listed before any body is read, so the
/// relay can announce the answer's exact length and then stream the bodies
/// page by page (see `RelayStorage.listBatch` and `RelayStorage.readPage`).
public struct BatchListing: Sendable {
    public struct Entry: Sendable, Equatable {
        public let sequence: UInt64
        public let receivedAt: UInt64
        public let length: Int

        public init(sequence: UInt64, receivedAt: UInt64, length: Int) {
            self.sequence = sequence; self.receivedAt = receivedAt; self.length = length
        }
    }

    /// A listed body was acknowledged, expired or changed before it was read.
    public struct Vanished: Error {
        public init() {}
    }

    public let entries: [Entry]
    /// True when more were waiting than the listing holds.
    public let more: Bool

    public init(entries: [Entry], more: Bool) {
        self.entries = entries; self.more = more
    }

    /// Bytes of the encoded batch: `more u8 || count u32`, then per item
    /// `sequence u64 || received_at u64 || length u32 || envelope`.
    public var encodedLength: Int { 5 + entries.reduce(0) { $0 + 20 + $1.length } }

    /// The batch header (`more u8 || count u32`).
    public var header: [UInt8] {
        var w = ByteWriter(capacity: 5)
        w.u8(more ? 1 : 0)
        w.u32(UInt32(entries.count))
        return w.bytes
    }

    /// Consecutive runs of entries holding about `maxBytes` of bodies each
    /// (at least one entry per page, however large).
    public func pages(maxBytes: Int) -> [ArraySlice<BatchListing.Entry>] {
        var pages: [ArraySlice<Entry>] = []
        var start = 0, bytes = 0
        for (i, entry) in entries.enumerated() {
            if i > start, bytes + entry.length > maxBytes {
                pages.append(entries[start..<i])
                start = i
                bytes = 0
            }
            bytes += entry.length
        }
        if start < entries.count { pages.append(entries[start...]) }
        return pages
    }
}
