import Foundation
import Testing

/// A `kith daemon` process for one node directory, with its log in
/// `HOME.log`; `stop()` sends SIGTERM, `kill()` SIGKILL.
final class DaemonProcess: @unchecked Sendable {
    let process = Process()
    let home: String
    private(set) var socket = ""
    /// The embedded relay's URL, with `relay.enabled`.
    private(set) var relay: String?

    /// Fast settings for tests: sync every 5 s, retries after 1 to 2 s; the web app on a free port, so that daemons
    /// running at once do not compete for one.
    static let quick = ["KITH_SYNC_INTERVAL": "5", "KITH_OUTBOX_RETRY_FIRST": "1", "KITH_OUTBOX_RETRY_LONGEST": "2", "KITH_LOG_LEVEL": "debug",
                        "KITH_WEB_LISTEN": "127.0.0.1:0"]

    init(home: String, env: [String: String] = DaemonProcess.quick, passphrase: String? = "test passphrase") throws {
        self.home = home
        process.executableURL = URL(fileURLWithPath: kithBinary)
        process.arguments = ["daemon", "--home", home]
        var environment = ProcessInfo.processInfo.environment
        for name in environment.keys where name.hasPrefix("KITH_") && name != "KITH_BINARY" { environment.removeValue(forKey: name) }
        if let passphrase { environment["KITH_PASSPHRASE"] = passphrase }
        environment["KITH_LOG_DESTINATION"] = home + ".log"
        environment.merge(env) { $1 }
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(60)
        let prefix = "daemon running, control socket "
        while !text.split(separator: "\n").contains(where: { $0.hasPrefix(prefix) }) || !text.hasSuffix("\n"), Date() < deadline {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else {
            if process.isRunning { process.terminate() }
            throw Failure(message: "daemon did not start: \(text)")
        }
        socket = String(line.dropFirst(prefix.count))
        relay = text.split(separator: "\n").first { $0.hasPrefix("relay listening on ") }.map { String($0.dropFirst("relay listening on ".count)) }
    }

    /// SIGTERM, then the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGKILL: no chance to finish anything.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }

    struct Failure: Error { let message: String }
}

/// Polls `condition` every half second until it holds or `seconds` pass.
func eventually(_ seconds: Double = 120, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.5)
    }
    return try condition()
}


