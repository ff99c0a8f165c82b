import Foundation
import GRDB
import KithCrypto
import KithProtocol
import NIOCore

/// How much one sync may take from one relay. A relay is not trusted to end
/// its answers: without a bound, one that always says more is waiting would
/// keep a sync busy forever.
///
/// The standard budget is 200 batches, 256 MiB of envelopes and 60 seconds
/// per relay: far above what a person's mailbox collects between syncs (200
/// batches of 500 envelopes), and short enough that a stuck relay costs a
/// minute or two at most (its deliveries, then its fetch, each within the
/// time). What is left is fetched by the next sync.
public struct RelayBudget: Sendable {
    /// Fetch requests per relay.
    public var batches: Int
    /// Envelope bytes fetched per relay.
    public var bytes: Int
    /// Time for each relay's deliveries, and again for its fetch.
    public var time: TimeAmount

    public init(batches: Int = 200, bytes: Int = 256 << 20, time: TimeAmount = .seconds(60)) {
        self.batches = batches
        self.bytes = bytes
        self.time = time
    }

    public static let standard = RelayBudget()
}

/// How fetching from one relay went in one sync.
public struct RelayFetch: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// Everything waiting was fetched.
        case done
        /// Stopped at the budget; the rest comes with the next sync.
        case partial
        /// The relay could not be reached, failed or did not answer in time.
        case failed
        /// The relay broke the protocol: fetching from it stopped for this
        /// sync (what it sent correctly before is kept).
        case misbehaving
    }

    public let relay: String
    public var state: State = .done
    /// Fetch answers received.
    public var batches = 0
    /// Envelopes received (new or not).
    public var envelopes = 0
    /// Bytes of those envelopes.
    public var bytes = 0
    /// Why it did not end as `done`.
    public var detail: String?

    public init(relay: String) { self.relay = relay }
}

extension Node {
    // MARK: Fetching

    /// My mailbox keys by relay; a relay whose key is missing is a problem in the report.
    func mailboxKeys(_ report: inout SyncReport) async throws -> [String: SigningKey] {
        let keys = try requireKeys()
        let relays = try await db.writer.read { db in try String.fetchAll(db, sql: "SELECT relay FROM mailbox ORDER BY relay") }
        var mailboxes: [String: SigningKey] = [:]
        for relay in relays {
            guard let key = keys.mailboxKeys[relay] else {
                report.note("no mailbox key for \(relay) in the keystore")
                continue
            }
            mailboxes[relay] = key
        }
        return mailboxes
    }

    /// Adds one relay's fetch to the report.
    static func record(_ status: RelayFetch, part: SyncReport, in report: inout SyncReport) {
        report.merge(part)
        report.fetches.append(status)
        switch status.state {
        case .done: break
        case .partial:
            report.note("fetch from \(status.relay) stopped at this sync's budget (\(status.detail ?? "")): the rest comes with the next sync")
        case .failed:
            report.fetchFailures += 1
            report.note("fetch from \(status.relay) failed (\(status.detail ?? "unknown error"))")
        case .misbehaving:
            report.fetchFailures += 1
            report.note("relay \(status.relay) misbehaves (\(status.detail ?? "")): fetching from it stopped for this sync")
        }
    }

    /// Fetches one mailbox. The next batch is requested (by sequence number)
    /// and its posts opened (`openAhead`) while the current one is
    /// committed, and each batch is acknowledged only after its commit.
    /// Sequence numbers must increase: a relay that repeats or goes back is
    /// cut off for this sync.
    func fetch(from relay: String, mailboxKey: SigningKey, limit: Int, budget: RelayBudget) async throws -> (RelayFetch, SyncReport) {
        var report = SyncReport()
        var status = RelayFetch(relay: relay)
        let client = RelayClient(baseURL: relay, deadline: .now() + budget.time)
        let fetchAndOpen: @Sendable (UInt64) async throws -> (FetchedBatch, OpenedAhead) = { after in
            let batch = try await client.fetch(mailboxKey: mailboxKey, after: after, limit: limit)
            return (batch, try await self.openAhead(batch.items))
        }
        var after: UInt64 = 0
        var next: Task<(FetchedBatch, OpenedAhead), any Error>? = Task { try await fetchAndOpen(0) }
        var acknowledgements: [Task<Void, any Error>] = []
        do {
            while let pending = next {
                let (batch, opened) = try await pending.value
                next = nil
                status.batches += 1
                let (valid, fault) = Self.check(batch, after: after, limit: limit)
                status.envelopes += valid.count
                status.bytes += valid.reduce(0) { $0 + $1.envelope.count }
                if fault == nil, batch.more, let last = valid.last {
                    if status.batches >= budget.batches || status.bytes >= budget.bytes {
                        status.state = .partial
                        status.detail = "\(status.batches) batches, \(status.bytes) bytes"
                    } else {
                        next = Task { try await fetchAndOpen(last.sequence) }
                    }
                }
                if let last = valid.last {
                    let ids = try await commit(FetchedBatch(items: valid, more: batch.more), from: relay, opened: opened, &report)
                    acknowledgements.append(Task { try await client.acknowledge(ids: ids, mailboxKey: mailboxKey) })
                    after = last.sequence
                }
                if let fault {
                    status.state = .misbehaving
                    status.detail = fault
                }
            }
            for task in acknowledgements { try await task.value }
        } catch let failure as RelayClient.Failure {
            next?.cancel()
            for task in acknowledgements { task.cancel() }
            status.state = .failed
            status.detail = failure.reason + (failure.detail.map { ", \($0)" } ?? "")
        }
        return (status, report)
    }

    /// The items of a batch that keep the protocol, and what is wrong with
    /// the rest: a relay sends at most `limit` envelopes, each with a
    /// sequence number above `after` and above the one before it, and at
    /// least one when it says more are waiting.
    static func check(_ batch: FetchedBatch, after: UInt64, limit: Int) -> (valid: [FetchedBatch.Item], fault: String?) {
        if batch.more && batch.items.isEmpty { return ([], "said more envelopes were waiting but sent none") }
        var previous = after
        var valid: [FetchedBatch.Item] = []
        for item in batch.items {
            guard valid.count < limit else { return (valid, "sent more than the \(limit) envelopes asked for") }
            guard item.sequence > previous else {
                return (valid, "sequence number \(item.sequence) does not follow \(previous)")
            }
            valid.append(item)
            previous = item.sequence
        }
        return (valid, nil)
    }

    /// Post envelopes of a batch opened ahead, by their index in the batch,
    /// each with an audience key the node held then. A key id names one
    /// key (it is keyed by the key), so the transaction that stores the
    /// post uses what was opened only if it finds that key id too.
    typealias OpenedAhead = [Int: Result<AudienceMessage, ProtocolError>]

    /// Verifies and decrypts the post envelopes of a fetched batch whose
    /// audience key is known, off the database's writer: that is most of
    /// what storing a post costs, and it is done here while the batch
    /// before is being committed. An envelope it cannot open here (its key
    /// not known yet, or an error other than the envelope's own) is left
    /// for the transaction to open.
    func openAhead(_ items: [FetchedBatch.Item]) async throws -> OpenedAhead {
        var byKey: [[UInt8]: [(index: Int, envelope: Envelope)]] = [:]
        for (i, item) in items.enumerated() {
            guard let envelope = try? Envelope(bytes: item.envelope), envelope.kind == .post, let keyID = try? Post.keyID(of: envelope) else { continue }
            byKey[keyID, default: []].append((i, envelope))
        }
        guard !byKey.isEmpty else { return [:] }
        let keyIDs = Array(byKey.keys)
        let keys = try await db.writer.read { db in
            try keyIDs.compactMap { keyID in try self.audienceKey(keyID: keyID, db).map { (keyID, $0.key) } }
        }
        let now = clock()
        var opened: OpenedAhead = [:]
        for (keyID, key) in keys {
            for (i, envelope) in byKey[keyID] ?? [] {
                do {
                    opened[i] = .success(try AudienceMessage.open(envelope, audience: key, now: now))
                } catch let error as ProtocolError {
                    opened[i] = .failure(error)
                } catch {
                    continue
                }
            }
        }
        return opened
    }

    /// Commits a fetched batch: each new envelope is applied and recorded by
    /// id in one transaction (one that cannot be applied yet is kept, pending).
    /// A crash before the acknowledgement only means the relay sends the batch
    /// again, and the ids already recorded are skipped. Returns the batch's ids.
    func commit(_ batch: FetchedBatch, from relay: String, opened: OpenedAhead = [:], _ report: inout SyncReport) async throws -> [[UInt8]] {
        let now = clock()
        let items = batch.items.map { (id: Envelope.id(of: $0.envelope), data: $0.envelope) }
        let outcomes = try await db.writer.write { db -> [Outcome] in
            var keys: AudienceKeyCache = [:]
            var outcomes: [Outcome] = []
            let known = try db.cachedStatement(sql: "SELECT 1 FROM inbox WHERE envelope_id = ?")
            let record = try db.cachedStatement(sql: """
                INSERT INTO inbox (envelope_id, data, relay, received_at, state, detail, wait_key) VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            for (i, item) in items.enumerated() where try Bool.fetchOne(known, arguments: [item.id.data]) != true {
                let outcome = try self.process(envelopeID: item.id, bytes: item.data, db, keys: &keys, opened: opened[i])
                if case .wait(let waiting) = outcome, let refusal = try Self.pendingRefusal(db, waiting) {
                    outcomes.append(.reject(refusal))    // not recorded: a later copy may find room
                    continue
                }
                let (state, detail, data, waitKey): (String, String?, Data, Data?) = switch outcome {
                case .done: ("done", nil, Data(), nil)
                case .reject(let detail): ("rejected", detail, Data(), nil)
                case .wait(let waiting): ("pending", waiting.reason, item.data.data, waiting.key.data)
                }
                try record.execute(arguments: [item.id.data, data, relay, Int64(now), state, detail, waitKey])
                outcomes.append(outcome)
            }
            return outcomes
        }
        report.fetched += outcomes.count
        for outcome in outcomes { report.count(outcome) }
        return items.map(\.id)
    }
}
