import Foundation
import KithRelayPostgres

/// Runs the cases of `kith bench`.
public enum Bench {
    /// The cases `run` can be limited to, by these names.
    public static let caseNames = ["seal", "ingest", "fanout", "blobs", "large", "postgres", "push", "daemon", "sync", "web", "bytes", "memory"]

    /// `executable` is the `kith` binary, run as child processes for the memory
    /// and large-store cases. `only`, if given, names the cases to run (see
    /// `caseNames`; "seal" is sealing and opening); the others are left out of the report.
    /// `postgres` is the server the "postgres" case makes its databases on;
    /// without it that case is left out, or refused when `only` names it.
    public static func run(quick: Bool, only: Set<String>? = nil, executable: String, postgres: PostgresStoreConfiguration? = nil,
                           progress: (String) -> Void) async throws -> BenchReport {
        if let only, let unknown = only.subtracting(caseNames).sorted().first {
            throw BenchError("no bench case named \(unknown) (cases: \(caseNames.joined(separator: ", ")))")
        }
        if postgres == nil, only?.contains("postgres") == true { throw BenchError(noServer) }
        func wanted(_ name: String) -> Bool { only?.contains(name) ?? true }
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        var report = BenchReport(machine: machineDescription(), build: build, quick: quick,
                                 date: Date().formatted(.iso8601.year().month().day()))
        if wanted("seal") {
            progress("seal and open")
            report.cases.append(try CryptoBench.seal(count: quick ? 300 : 20_000))
            report.cases.append(try CryptoBench.open(count: quick ? 300 : 20_000))
        }
        if wanted("ingest") {
            progress("relay ingest: single-mailbox drops")
            report.cases.append(try await RelayBench.singleDrops(count: quick ? 200 : 10_000, concurrency: 32))
        }
        if wanted("fanout") {
            progress("relay ingest: one post to 150 mailboxes")
            report.cases.append(try await RelayBench.fanOut(uploads: quick ? 20 : 400, concurrency: 4))
        }
        // Appended after the memory case, which sets the list.
        var laterMemory: [MemoryCost] = []
        if wanted("blobs") {
            progress("attachments: a 10 MB photo to 150 mailboxes, a thumbnail")
            report.cases += try await BlobBench.upload(rounds: quick ? 1 : 2)
            report.cases.append(try BlobBench.thumbnail(rounds: quick ? 1 : 3))
        }
        if wanted("large") {
            let stored = quick ? 20_000 : 1_000_000
            progress("relay with \(stored) envelopes stored")
            let large = try await LargeStoreBench.measure(executable: executable, stored: stored, drops: quick ? 200 : 5_000, concurrency: 32,
                                                          rounds: quick ? 1 : 2)
            report.cases += [large.ingest, large.fetch]
            laterMemory.append(large.memory)
        }
        if wanted("postgres") {
            if let postgres {
                progress("relays on PostgreSQL beside SQLite")
                let measured = try await PostgresBench.measure(executable: executable, server: postgres, quick: quick)
                report.cases += measured.cases
                laterMemory.append(measured.memory)
            } else {
                report.notes.append("postgres: not run. \(noServer)")
            }
        }
        if wanted("push") {
            progress("push: drop to notification")
            report.push = try await PushBench.latency(drops: quick ? 20 : 200)
        }
        if wanted("daemon") {
            progress("daemons: post to feed")
            report.daemon = try await DaemonBench.latency(executable: executable, posts: quick ? 3 : 200)
        }
        if wanted("sync") {
            progress("sync")
            report.cases.append(try await SyncBench.sync(posts: quick ? 300 : 10_000))
        }
        if wanted("web") {
            progress("web app: the feed's first page")
            report.cases += try await WebBench.feedPage(executable: executable, posts: quick ? 300 : 10_000, requests: quick ? 5 : 200)
        }
        if wanted("bytes") {
            progress("bytes")
            report.bytes = try BytesBench.costs(recipients: [10, 150, 1000])
            report.nip17Formula = NIP17.formula
        }
        if wanted("memory") {
            progress("memory")
            report.memory = try await MemoryBench.measure(executable: executable, relayEnvelopes: quick ? 3_000 : 100_000, posts: quick ? 300 : 10_000)
        }
        report.memory += laterMemory
        return report
    }

    static let noServer = "The postgres case needs a PostgreSQL server whose role may create databases: "
        + "--postgres postgres://USER@HOST:PORT/DB, the password in KITH_RELAY_STORE_PASSWORD "
        + "(`make bench-postgres` runs it on a throwaway server)."
}
