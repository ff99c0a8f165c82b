import Foundation
import KithCrypto
import KithNode
import KithProtocol
import KithRelay

/// Peak resident memory of a `kith relay` process holding many envelopes,
/// and of a `kith sync` process fetching many posts from it.
enum MemoryBench {
    static func measure(executable: String, relayEnvelopes: Int, posts: Int) async throws -> [MemoryCost] {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relayHome = dir + "/relay"
        let relay = try RelayChild(executable: executable, home: relayHome)
        defer { relay.stop() }
        // This process writes to the relay's database beside it (SQLite in WAL mode allows it).
        let store = try SQLiteRelayStore(path: relayHome + "/relay.sqlite")
        _ = try await SyncFixture.make(bobHome: dir + "/bob", relayURL: relay.url, store: store, posts: posts)

        let filler = RelayBench.Mailbox()
        _ = try await store.register(mailbox: filler.key.publicKey, now: Node.now())
        try await store.addToken(hash: DropToken.hash(filler.token), mailbox: filler.key.publicKey, now: Node.now())
        var remaining = relayEnvelopes - posts - 1
        while remaining > 0 {
            let n = min(remaining, 5000)
            let drops = (0..<n).map { _ in DropRequest(targets: [filler.target], envelope: Envelope(kind: .post, payload: randomBytes(Post.payloadOverhead + Post.minBucket)).bytes) }
            _ = try await store.drop(drops, now: Node.now(), ttl: 86_400)
            remaining -= n
        }

        let node = try runSampled(executable, ["sync", "--home", dir + "/bob"],
                                  env: ["KITH_PASSPHRASE": String(decoding: SyncFixture.passphrase, as: UTF8.self)])
        return [
            MemoryCost(name: "node: kith sync of \(posts) posts", residentMiB: node.resident, peakMiB: node.peak, limitMiB: 64, judged: "resident",
                       note: "the peak includes the 256 MiB Argon2id (crypto_pwhash moderate) buffer used once to unlock the keystore"),
            MemoryCost(name: "relay holding \(relayEnvelopes) envelopes", residentMiB: try relay.residentMiB(), peakMiB: try relay.peakMiB(),
                       limitMiB: 128, judged: "peak", note: nil),
        ]
    }

    /// Runs a child to completion, sampling its resident memory every 5 ms.
    /// Returns the last sample before it exited and its true peak (ru_maxrss).
    static func runSampled(_ executable: String, _ arguments: [String], env extra: [String: String]) throws -> (resident: Double, peak: Double) {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "KITH_PASSPHRASE_FILE")
        env.merge(extra) { $1 }
        child.environment = env
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        var last = 0.0
        while child.isRunning {
            if let rss = procStatus(pid: child.processIdentifier, field: "VmRSS:") { last = rss }
            usleep(5_000)
        }
        child.waitUntilExit()
        guard child.terminationStatus == 0 else { throw BenchError("kith \(arguments[0]) failed in the memory case") }
        // Only one child has been reaped so far, so RUSAGE_CHILDREN's peak is this one's.
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        return (last, Double(usage.ru_maxrss) / 1024)
    }
}

/// A memory figure from /proc/PID/status, in MiB.
func procStatus(pid: Int32, field: String) -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
          let kib = Double(line.split(separator: " ", omittingEmptySubsequences: true)[1]) else { return nil }
    return kib / 1024
}
