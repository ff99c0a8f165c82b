import Foundation
import Hummingbird
import KithRelay
import Logging

/// A relay served by this process on 127.0.0.1 over real HTTP, backed by a
/// SQLite file, as `kith relay` runs it.
struct BenchRelay {
    let store: SQLiteRelayStore
    let url: String
    private let task: Task<Void, any Error>

    static func start(directory: String) async throws -> BenchRelay {
        let store = try SQLiteRelayStore(path: directory + "/relay.sqlite")
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "kith.bench.relay")
        logger.logLevel = .critical
        // The bench sends thousands of drops a second from one address with
        // a few tokens: it measures throughput, so no rate limit applies.
        var configuration = RelayConfiguration()
        configuration.addressRate = nil
        configuration.tokenRate = nil
        let app = buildRelayApplication(store: store, configuration: configuration, host: "127.0.0.1", port: 0, logger: logger) {
            continuation.yield($0)
        }
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw BenchError("the bench relay did not start") }
        return BenchRelay(store: store, url: "http://127.0.0.1:\(port)", task: task)
    }

    func stop() async {
        task.cancel()
        _ = await task.result
    }
}

/// A `kith relay` child process, for measuring its memory.
final class RelayChild {
    let process = Process()
    let url: String

    /// `store`, if given, is the relay's `--store` URL, and `password` its
    /// KITH_RELAY_STORE_PASSWORD.
    init(executable: String, home: String, config: String? = nil, store: String? = nil, password: String? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["relay", "--home", home, "--listen", "127.0.0.1:0", "--log-level", "error"] + (config.map { ["--config", $0] } ?? [])
            + (store.map { ["--store", $0] } ?? [])
        if let password {
            var environment = ProcessInfo.processInfo.environment
            environment["KITH_RELAY_STORE_PASSWORD"] = password
            process.environment = environment
        }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var text = ""
        while !text.contains("\n") {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first, line.hasPrefix("listening on ") else {
            process.terminate()
            throw BenchError("the relay process did not start")
        }
        url = String(line.dropFirst("listening on ".count))
    }

    /// Peak resident memory so far (VmHWM), in MiB.
    func peakMiB() throws -> Double {
        guard let v = procStatus(pid: process.processIdentifier, field: "VmHWM:") else { throw BenchError("cannot read the relay's memory") }
        return v
    }

    /// Resident memory now (VmRSS), in MiB.
    func residentMiB() throws -> Double {
        guard let v = procStatus(pid: process.processIdentifier, field: "VmRSS:") else { throw BenchError("cannot read the relay's memory") }
        return v
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
