import Foundation
import KithCrypto
import KithNode
import KithProtocol
import KithRelayPostgres
import Logging
import PostgresNIO

/// The relay's PostgreSQL store beside its SQLite one, all through `kith
/// relay` processes over real HTTP in the same run: drops into one mailbox
/// and one post to 150 mailboxes on a SQLite relay, on one relay on
/// PostgreSQL and on two sharing the database (the clients spread over
/// both, as a round-robin balancer spreads them); then a PostgreSQL relay
/// holding 1,000,000 envelopes against an empty one. The figures are
/// measured to be known, not judged: the ratio reads "PostgreSQL against
/// SQLite on this machine". Each run works in a database of its own, made
/// and dropped on the server `server` names (its role needs CREATEDB).
enum PostgresBench {
    static func measure(executable: String, server: PostgresStoreConfiguration, quick: Bool) async throws -> (cases: [BenchCase], memory: MemoryCost) {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try LargeStoreBench.config.write(toFile: dir + "/relay.json", atomically: true, encoding: .utf8)
        let config = dir + "/relay.json"
        var cases: [BenchCase] = []
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let scaling = "\(cores) cores shared by the relays, the database and the bench's clients: two processes cannot show scaling here"

        let drops = quick ? 300 : 10_000, uploads = quick ? 20 : 400
        let sqlite = try RelayChild(executable: executable, home: dir + "/sqlite", config: config)
        defer { sqlite.stop() }
        let singleFloor = try await single(on: [sqlite.url], drops: drops)
        let fanFloor = try await fanOut(on: [sqlite.url], uploads: uploads)
        try await withDatabase(server, dir: dir) { url in
            let one = try RelayChild(executable: executable, home: dir + "/pg-1", config: config, store: url, password: server.password)
            defer { one.stop() }
            let two = try RelayChild(executable: executable, home: dir + "/pg-2", config: config, store: url, password: server.password)
            defer { two.stop() }
            for (label, urls) in [("1 process", [one.url]), ("2 processes", [one.url, two.url])] {
                cases.append(BenchCase(name: "postgres ingest, \(label)", unit: "drops/s", ours: try await single(on: urls, drops: drops),
                                       floor: singleFloor, target: nil,
                                       note: "drops into one mailbox, 32 clients\(urls.count > 1 ? " spread over both" : ""); floor: the same on a SQLite relay process; \(scaling)"))
                cases.append(BenchCase(name: "postgres fan-out, \(label)", unit: "refs/s", ours: try await fanOut(on: urls, uploads: uploads),
                                       floor: fanFloor, target: nil,
                                       note: "1 post to 150 mailboxes per upload, 4 clients\(urls.count > 1 ? " spread over both" : ""); floor: the same on a SQLite relay process"))
            }
        }
        let large = try await largeStore(executable: executable, server: server, dir: dir, config: config, stored: quick ? 20_000 : 1_000_000,
                                         drops: quick ? 200 : 5_000, rounds: quick ? 1 : 2)
        return (cases + [large.ingest, large.fetch], large.memory)
    }

    /// Drops of 512-byte-bucket envelopes into a fresh mailbox from 32 clients: drops a second.
    static func single(on urls: [String], drops count: Int) async throws -> Double {
        let box = try await RelayBench.mailboxes(1, on: RelayClient(baseURL: urls[urls.count - 1]))[0]
        let drops = (0..<count).map { _ in RelayBench.smallDrop(to: box) }
        return Double(count) / (try await DropSender.send(drops, to: urls, concurrency: 32))
    }

    /// One 1 KiB post to 150 fresh mailboxes per upload, from 4 clients: references a second.
    static func fanOut(on urls: [String], uploads: Int) async throws -> Double {
        // Registered through the last process: each process allows 200 registrations from one address in a burst.
        let boxes = try await RelayBench.mailboxes(CryptoBench.audienceSize, on: RelayClient(baseURL: urls[urls.count - 1]))
        let drops = try RelayBench.fanOutDrops(to: boxes, uploads: uploads)
        let seconds = try await DropSender.send(drops, to: urls, concurrency: 4)
        return Double(uploads * boxes.count) / seconds
    }

    /// Ingest and fetch on a relay whose database holds `stored` envelopes,
    /// against one on an empty database, in alternating rounds; and the full
    /// relay's memory.
    static func largeStore(executable: String, server: PostgresStoreConfiguration, dir: String, config: String,
                           stored: Int, drops: Int, rounds: Int) async throws -> LargeStoreBench.Result {
        try await withDatabase(server, dir: dir) { emptyURL in
            try await withDatabase(server, dir: dir) { fullURL in
                let empty = try RelayChild(executable: executable, home: dir + "/pg-empty", config: config, store: emptyURL, password: server.password)
                defer { empty.stop() }
                let full = try RelayChild(executable: executable, home: dir + "/pg-full", config: config, store: fullURL, password: server.password)
                defer { full.stop() }
                let fillSeconds = try await Measure.seconds { try await fill(server, database: database(in: fullURL), envelopes: stored) }
                var best = (emptyIngest: 0.0, fullIngest: 0.0, emptyFetch: 0.0, fullFetch: 0.0)
                for _ in 0..<rounds {
                    let e = try await LargeStoreBench.round(on: RelayClient(baseURL: empty.url), drops: drops, concurrency: 32)
                    let f = try await LargeStoreBench.round(on: RelayClient(baseURL: full.url), drops: drops, concurrency: 32)
                    best = (max(best.emptyIngest, e.ingest), max(best.fullIngest, f.ingest), max(best.emptyFetch, e.fetch), max(best.fullFetch, f.fetch))
                }
                let shown = stored.formatted(.number.grouping(.automatic))
                return LargeStoreBench.Result(
                    ingest: BenchCase(name: "postgres ingest, \(shown) stored", unit: "drops/s", ours: best.fullIngest, floor: best.emptyIngest,
                                      target: 0.8, note: "\(drops) drops into one mailbox from 32 clients, on a relay whose PostgreSQL database holds \(shown) envelopes (filled in \(String(format: "%.0f", fillSeconds)) s) against one on an empty database"),
                    fetch: BenchCase(name: "postgres fetch, \(shown) stored", unit: "envelopes/s", ours: best.fullFetch, floor: best.emptyFetch,
                                     target: 0.8, note: "fetch and acknowledge the \(drops) envelopes, batch by batch, on the same two relays"),
                    memory: MemoryCost(name: "postgres relay, \(shown) stored", residentMiB: try full.residentMiB(),
                                       peakMiB: try full.peakMiB(), limitMiB: 128, judged: "peak", note: "after the ingest and fetch rounds above"))
            }
        }
    }

    /// Runs `body` with the store URL of a new database on the server, and drops the database after.
    static func withDatabase<R>(_ server: PostgresStoreConfiguration, dir: String, _ body: (String) async throws -> R) async throws -> R {
        let name = "kith_bench_" + Hex.encode(randomBytes(6))
        // The name is made here of hex digits: nothing from outside is in these statements.
        try await execute(["CREATE DATABASE \(name)"], on: server)
        do {
            let result = try await body(url(server, database: name))
            try await execute(["DROP DATABASE IF EXISTS \(name) WITH (FORCE)"], on: server)
            return result
        } catch {
            try? await execute(["DROP DATABASE IF EXISTS \(name) WITH (FORCE)"], on: server)
            throw error
        }
    }

    /// The `--store` URL of `database` on the server (its password travels apart).
    static func url(_ server: PostgresStoreConfiguration, database: String) -> String {
        let tls = server.tls == .require ? "require" : "disable"
        if server.host.hasPrefix("/") {
            return "postgres://\(server.user)@/\(database)?host=\(server.host)&sslmode=\(tls)"
        }
        let host = server.host.contains(":") ? "[\(server.host)]" : server.host
        return "postgres://\(server.user)@\(host):\(server.port)/\(database)?sslmode=\(tls)"
    }

    static func database(in url: String) -> String {
        String(url.split(separator: "/").last?.split(separator: "?").first ?? "")
    }

    /// Writes `envelopes` envelopes (512-byte bucket) into the relay's own
    /// schema, 1,000 to a mailbox, with the counts the store keeps
    /// (each mailbox's, the relay's and the store's totals) as the relay
    /// would have left them: set-up, not a measurement.
    static func fill(_ server: PostgresStoreConfiguration, database: String, envelopes: Int) async throws {
        var target = server
        target.database = database
        let size = 6 + Post.payloadOverhead + Post.minBucket, perBox = 1_000
        let boxes = (envelopes + perBox - 1) / perBox
        let now = Int(Node.now()), expires = now + 30 * 86_400
        // Mailbox ids and envelope ids are made from the row number: nothing from outside is in these statements.
        try await execute([
            "BEGIN",
            """
            INSERT INTO mailbox (id, created_at, last_seq, envelopes, bytes)
            SELECT decode(lpad(to_hex(m), 64, '0'), 'hex'), \(now), least(\(perBox), \(envelopes) - (m - 1) * \(perBox)),
                   least(\(perBox), \(envelopes) - (m - 1) * \(perBox)), least(\(perBox), \(envelopes) - (m - 1) * \(perBox)) * \(size)
            FROM generate_series(1, \(boxes)) AS m
            """,
            "UPDATE relay_total SET mailboxes = mailboxes + \(boxes)",
            """
            INSERT INTO body (id, data, size, created_at) OVERRIDING SYSTEM VALUE
            SELECT i, substring(decode(repeat(md5(i::text), \(size / 16 + 1)), 'hex') FOR \(size)), \(size), \(now)
            FROM generate_series(1, \(envelopes)) AS i
            """,
            "SELECT setval(pg_get_serial_sequence('body', 'id'), \(envelopes))",
            """
            INSERT INTO delivery (mailbox, seq, envelope, body, received_at, size, expires_at)
            SELECT decode(lpad(to_hex((i - 1) / \(perBox) + 1), 64, '0'), 'hex'), (i - 1) % \(perBox) + 1,
                   decode(md5('e' || i) || md5('f' || i), 'hex'), i, \(now), \(size), \(expires)
            FROM generate_series(1, \(envelopes)) AS i
            """,
            "UPDATE store_total SET bodies = bodies + \(envelopes), body_bytes = body_bytes + \(envelopes) * \(size) WHERE shard = 0",
            "COMMIT",
            "VACUUM ANALYZE",
        ], on: target)
    }

    /// Runs these statements one after another on a connection of their own.
    static func execute(_ statements: [String], on server: PostgresStoreConfiguration) async throws {
        let logger = Logger(label: "kith.bench.postgres")
        let connection = try await PostgresConnection.connect(on: PostgresClient.defaultEventLoopGroup.any(),
                                                              configuration: server.connection(connectTimeout: .seconds(10)), id: 0, logger: logger).get()
        do {
            for statement in statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
        } catch {
            try? await connection.close()
            throw BenchError("PostgreSQL at \(server.host): \((error as? PSQLError)?.serverInfo?[.message] ?? "\(error)")")
        }
        try await connection.close()
    }
}
