import Foundation
import NIOConcurrencyHelpers

/// Token buckets by key (a drop token's hash, a client address), in memory
/// and bounded: at most `capacity` buckets are kept. When a new key would
/// exceed that, buckets that have refilled completely are forgotten first
/// (forgetting one changes nothing: a new bucket starts full); if that is
/// not enough, the buckets used least recently are forgotten until half the
/// room is free, so a flood of new keys costs bounded memory and amortised
/// constant time, at worst giving a forgotten key a fresh burst.
final class TokenBuckets<Key: Hashable & Sendable>: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Double
    }

    let rate: RateLimit
    let capacity: Int
    private let buckets: NIOLockedValueBox<[Key: Bucket]>

    init(rate: RateLimit, capacity: Int) {
        self.rate = rate
        self.capacity = max(2, capacity)
        buckets = NIOLockedValueBox([:])
    }

    /// Takes one token from each key's bucket (a key listed twice takes two),
    /// all or none. Returns nil when taken, or the seconds until they would be.
    /// With `creating` false, a key without a bucket is let through and gets
    /// none (see `remember`).
    func take(_ keys: [Key], now: Double, creating: Bool = true) -> Double? {
        var needed: [Key: Int] = [:]
        for key in keys { needed[key, default: 0] += 1 }
        return buckets.withLockedValue { map -> Double? in
            var wait = 0.0
            var refilled: [Key: Bucket] = [:]
            for (key, count) in needed {
                guard creating || map[key] != nil else { continue }
                let bucket = map[key].map { refill($0, now: now) } ?? Bucket(tokens: Double(rate.burst), updated: now)
                if bucket.tokens < Double(count) {
                    wait = max(wait, (Double(count) - bucket.tokens) / rate.perSecond)
                }
                refilled[key] = bucket
            }
            guard wait == 0 else { return wait }
            for (key, var bucket) in refilled {
                bucket.tokens -= Double(needed[key]!)
                if map[key] == nil, map.count >= capacity { evict(&map, now: now) }
                map[key] = bucket
            }
            return nil
        }
    }

    /// Gives each key without a bucket one, charged once: for keys known
    /// to be genuine only after the work they asked for.
    func remember(_ keys: [Key], now: Double) {
        buckets.withLockedValue { map in
            for key in keys where map[key] == nil {
                if map.count >= capacity { evict(&map, now: now) }
                map[key] = Bucket(tokens: Double(rate.burst) - 1, updated: now)
            }
        }
    }

    /// Buckets kept, for tests.
    var count: Int { buckets.withLockedValue { $0.count } }

    private func refill(_ bucket: Bucket, now: Double) -> Bucket {
        let elapsed = max(0, now - bucket.updated)
        return Bucket(tokens: min(Double(rate.burst), bucket.tokens + elapsed * rate.perSecond), updated: now)
    }

    private func evict(_ map: inout [Key: Bucket], now: Double) {
        map = map.filter { refill($0.value, now: now).tokens < Double(rate.burst) }
        guard map.count > capacity * 3 / 4 else { return }
        let keep = map.sorted { $0.value.updated > $1.value.updated }.prefix(capacity / 2)
        map = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
    }
}

/// The relay's two drop rate limits: per client address (counted before
/// the request's body is read) and per drop token (each target's token).
final class DropRateLimiter: Sendable {
    enum Refusal: Error {
        case address(retryAfter: UInt64)
        case token(retryAfter: UInt64)
    }

    private let addresses: TokenBuckets<[UInt8]>?
    private let tokens: TokenBuckets<[UInt8]>?
    private let start = ContinuousClock.now

    init(perAddress: RateLimit?, perToken: RateLimit?, capacity: Int) {
        addresses = perAddress.map { TokenBuckets(rate: $0, capacity: capacity) }
        tokens = perToken.map { TokenBuckets(rate: $0, capacity: capacity) }
    }

    private var now: Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }

    func admit(address: String) throws(Refusal) {
        if let wait = addresses?.take([Self.addressKey(address)], now: now) { throw .address(retryAfter: Self.seconds(wait)) }
    }

    /// Charges the drop tokens that have buckets, that is that were valid in
    /// an earlier drop; a token seen for the first time is charged by
    /// `accepted` once the store has found it valid, so that invented tokens
    /// never get a bucket (and cannot crowd out real ones).
    func admit(tokenHashes: [[UInt8]]) throws(Refusal) {
        if let wait = tokens?.take(tokenHashes, now: now, creating: false) { throw .token(retryAfter: Self.seconds(wait)) }
    }

    /// The drop tokens a store accepted.
    func accepted(tokenHashes: [[UInt8]]) {
        tokens?.remember(tokenHashes, now: now)
    }

    /// Whole seconds to wait, at least 1.
    static func seconds(_ wait: Double) -> UInt64 { UInt64(min(max(1, wait.rounded(.up)), 86_400)) }

    /// What a client address is counted by: an IPv4 address whole (also
    /// when mapped into IPv6), an IPv6 address by its /64, which one host or
    /// home network usually has to itself; anything else as written.
    static func addressKey(_ address: String) -> [UInt8] {
        guard let bytes = ClientAddress.bytes(address) else { return Array(address.utf8) }
        return bytes.count == 4 ? bytes : Array(bytes[0..<8]) + [6]
    }
}
