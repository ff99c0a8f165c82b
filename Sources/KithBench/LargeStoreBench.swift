import Foundation
import GRDBSQLite
import KithCrypto
import KithNode
import KithProtocol

/// A relay's cost must not grow with what it holds: ingest and fetch on a
/// `kith relay` process holding many envelopes, against the same on an empty
/// one, measured in alternating rounds; and the full relay's memory.
enum LargeStoreBench {
    struct Result {
        let ingest: BenchCase
        let fetch: BenchCase
        let memory: MemoryCost
    }

    /// Relay settings for the bench: no drop rate limit (it measures
    /// throughput from one address), room for the filler mailboxes.
    static let config = """
        {"relay": {"drop_rate_per_token": 1000000, "drop_burst_per_token": 1000000,
                   "drop_rate_per_address": 1000000, "drop_burst_per_address": 1000000, "max_mailboxes": 1000000}}
        """

    static func measure(executable: String, stored: Int, drops: Int, concurrency: Int, rounds: Int = 2) async throws -> Result {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try config.write(toFile: dir + "/relay.json", atomically: true, encoding: .utf8)
        let empty = try RelayChild(executable: executable, home: dir + "/empty", config: dir + "/relay.json")
        defer { empty.stop() }
        let full = try RelayChild(executable: executable, home: dir + "/full", config: dir + "/relay.json")
        defer { full.stop() }
        let fillSeconds = try fill(path: dir + "/full/relay.sqlite", envelopes: stored)

        var best = (emptyIngest: 0.0, fullIngest: 0.0, emptyFetch: 0.0, fullFetch: 0.0)
        for _ in 0..<rounds {
            let e = try await round(on: RelayClient(baseURL: empty.url), drops: drops, concurrency: concurrency)
            let f = try await round(on: RelayClient(baseURL: full.url), drops: drops, concurrency: concurrency)
            best = (max(best.emptyIngest, e.ingest), max(best.fullIngest, f.ingest), max(best.emptyFetch, e.fetch), max(best.fullFetch, f.fetch))
        }
        let shown = stored.formatted(.number.grouping(.automatic))
        let ingest = BenchCase(name: "relay ingest, \(shown) stored", unit: "drops/s", ours: best.fullIngest, floor: best.emptyIngest, target: 0.8,
                               note: "\(drops) drops into one mailbox from \(concurrency) clients, on a `kith relay` holding \(shown) envelopes (filled in \(String(format: "%.0f", fillSeconds)) s) against an empty one")
        let fetch = BenchCase(name: "relay fetch, \(shown) stored", unit: "envelopes/s", ours: best.fullFetch, floor: best.emptyFetch, target: 0.8,
                              note: "fetch and acknowledge the \(drops) envelopes, batch by batch as a node does, on the same two relays")
        let memory = MemoryCost(name: "relay holding \(shown) envelopes", residentMiB: try full.residentMiB(), peakMiB: try full.peakMiB(),
                                limitMiB: 128, judged: "peak", note: "after the ingest and fetch rounds above")
        return Result(ingest: ingest, fetch: fetch, memory: memory)
    }

    /// Drops into a fresh mailbox, then fetches and acknowledges them all.
    static func round(on client: RelayClient, drops count: Int, concurrency: Int) async throws -> (ingest: Double, fetch: Double) {
        let box = try await RelayBench.mailboxes(1, on: client)[0]
        let drops = (0..<count).map { _ in RelayBench.smallDrop(to: box) }
        let ingest = try await DropSender.send(drops, to: client.baseURL, concurrency: concurrency)
        var fetched = 0
        let fetch = try await Measure.seconds {
            var after: UInt64 = 0
            while true {
                let batch = try await client.fetch(mailboxKey: box.key, after: after, limit: 1000)
                guard let last = batch.items.last else { break }
                try await client.acknowledge(ids: batch.items.map { Envelope.id(of: $0.envelope) }, mailboxKey: box.key)
                fetched += batch.items.count
                after = last.sequence
                if !batch.more { break }
            }
        }
        guard fetched == count else { throw BenchError("fetched \(fetched) of \(count) envelopes") }
        return (Double(count) / ingest, Double(count) / fetch)
    }

    /// Writes `envelopes` envelopes (512-byte bucket) into the relay's own
    /// schema with the C API, 1,000 to a mailbox, in large transactions. This
    /// is set-up, not a measurement, so it does not sync each commit.
    /// Returns the seconds it took.
    static func fill(path: String, envelopes: Int) throws -> Double {
        let db = try SQLiteFloor(path: path)
        try db.exec("PRAGMA synchronous=OFF")
        let mailbox = try db.prepare("INSERT INTO mailbox (id, created_at) VALUES (?, ?)")
        let body = try db.prepare("INSERT INTO body (data, created_at, expires_at) VALUES (?, ?, ?)")
        let delivery = try db.prepare("INSERT INTO delivery (mailbox, envelope, body, received_at, size, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
        defer { sqlite3_finalize(mailbox); sqlite3_finalize(body); sqlite3_finalize(delivery) }
        let now = Int(Node.now()), expires = now + 30 * 86_400
        let payload = Post.payloadOverhead + Post.minBucket
        return try Measure.seconds {
            var box: [UInt8] = []
            for start in stride(from: 0, to: envelopes, by: 20_000) {
                try db.exec("BEGIN IMMEDIATE")
                for i in start..<min(start + 20_000, envelopes) {
                    if i % 1000 == 0 {
                        box = randomBytes(32)
                        try db.run(mailbox, [box, now])
                    }
                    let data = Envelope(kind: .post, payload: randomBytes(payload)).bytes
                    try db.run(body, [data, now, expires])
                    try db.run(delivery, [box, Envelope.id(of: data), db.lastRowID, now, data.count, expires])
                }
                try db.exec("COMMIT")
            }
            try? db.exec("PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }
}
