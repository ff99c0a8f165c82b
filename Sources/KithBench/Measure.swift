import Foundation

/// Timing helpers. Kith's figure and its floor are measured in alternating
/// rounds in the same process, and the best round of each is kept, so that a
/// passing disturbance does not favour either side.
enum Measure {
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try body()
        return (clock.now - start).seconds
    }

    static func seconds(_ body: () async throws -> Void) async rethrows -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try await body()
        return (clock.now - start).seconds
    }

    /// Operations per second of `body` run `count` times, best of `rounds`,
    /// alternating with `floor`.
    static func compare(rounds: Int, count: Int, ours: () throws -> Void, floor: () throws -> Void) rethrows -> (ours: Double, floor: Double) {
        var best = (ours: 0.0, floor: 0.0)
        for _ in 0..<rounds {
            let f = try seconds { for _ in 0..<count { try floor() } }
            let o = try seconds { for _ in 0..<count { try ours() } }
            best = (max(best.ours, Double(count) / o), max(best.floor, Double(count) / f))
        }
        return best
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// The `p` quantile (0 to 1) of `values`, nearest rank; 0 for none.
func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

/// A description of this machine for the report.
func machineDescription() -> String {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
        .map { $0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    let memory = ProcessInfo.processInfo.physicalMemory / (1 << 30)
    return "\(ProcessInfo.processInfo.activeProcessorCount) cores (\(model)), \(memory) GiB"
}

/// A fresh directory, removed by `cleanup`.
func scratchDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "kith-bench-" + UUID().uuidString.prefix(8)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    return path
}
