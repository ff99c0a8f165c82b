import Foundation

/// Runs every case of `kith bench`.
public enum Bench {
    /// `executable` is the `kith` binary, run as child processes for the memory case.
    public static func run(quick: Bool, executable: String, progress: (String) -> Void) async throws -> BenchReport {
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        var report = BenchReport(machine: machineDescription(), build: build, quick: quick,
                                 date: Date().formatted(.iso8601.year().month().day()))
        progress("seal and open")
        report.cases.append(try CryptoBench.seal(count: quick ? 300 : 20_000))
        report.cases.append(try CryptoBench.open(count: quick ? 300 : 20_000))
        progress("relay ingest: single-mailbox drops")
        report.cases.append(try await RelayBench.singleDrops(count: quick ? 200 : 10_000, concurrency: 32))
        progress("relay ingest: one post to 150 mailboxes")
        report.cases.append(try await RelayBench.fanOut(uploads: quick ? 20 : 400, concurrency: 4))
        let stored = quick ? 20_000 : 1_000_000
        progress("relay with \(stored) envelopes stored")
        let large = try await LargeStoreBench.measure(executable: executable, stored: stored, drops: quick ? 200 : 5_000, concurrency: 32,
                                                      rounds: quick ? 1 : 2)
        report.cases += [large.ingest, large.fetch]
        progress("push: drop to notification")
        report.push = try await PushBench.latency(drops: quick ? 20 : 200)
        progress("daemons: post to feed")
        report.daemon = try await DaemonBench.latency(executable: executable, posts: quick ? 3 : 200)
        progress("sync")
        report.cases.append(try await SyncBench.sync(posts: quick ? 300 : 10_000))
        progress("bytes")
        report.bytes = try BytesBench.costs(recipients: [10, 150, 1000])
        report.nip17Formula = NIP17.formula
        progress("memory")
        report.memory = try await MemoryBench.measure(executable: executable, relayEnvelopes: quick ? 3_000 : 100_000, posts: quick ? 300 : 10_000)
        report.memory.append(large.memory)
        return report
    }
}
