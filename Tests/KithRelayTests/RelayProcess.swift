import Foundation

/// A `kith relay` process on 127.0.0.1 with its own directory, started from
/// the binary built beside the tests (`swift build --build-tests`) and
/// stopped with SIGTERM. (A small copy of the CLI tests' launcher.)
final class RelayProcess: @unchecked Sendable {
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["KITH_BINARY"] { return path }
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kith").path,
            Bundle.main.bundleURL.appendingPathComponent("kith").path,
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("kith").path,
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/debug/kith").path,
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }()

    let process = Process()
    let home: String
    private(set) var url = ""
    /// Whether `stop` leaves the directory, for a relay started again in it.
    var keepsHome = false

    /// `relay` is the `relay` section of a config file to start it with (none if empty);
    /// `home` and `port` start it again where an earlier one ran.
    init(relay: [String: any Sendable] = [:], home: String? = nil, port: Int = 0) throws {
        self.home = home ?? NSTemporaryDirectory() + "kith-relay-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: self.home, withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["relay", "--home", self.home, "--listen", "127.0.0.1:\(port)", "--log-level", "error"]
        if !relay.isEmpty {
            let path = self.home + "/config.json"
            try JSONSerialization.data(withJSONObject: ["relay": relay]).write(to: URL(fileURLWithPath: path))
            process.arguments! += ["--config", path]
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
            stop()
            throw RawConnection.Failure("relay did not start: \(text)")
        }
        url = String(line.dropFirst("listening on ".count))
    }

    var port: Int { Int(url.split(separator: ":").last!)! }

    /// The process's resident memory in bytes (VmRSS), or nil once it has exited.
    var residentBytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kib * 1024
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        if !keepsHome { try? FileManager.default.removeItem(atPath: home) }
    }

    /// Kills the process with SIGKILL, as a crash or a power cut would end it,
    /// and leaves its directory for a new process.
    func kill() {
        keepsHome = true
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}
