import Foundation
import Testing

/// Output to a reader that has gone (`kith feed | head -1`, `kith card |
/// grep -q`) ends kith quietly with the status a shell gives a program
/// stopped by SIGPIPE, never a trap.
@Suite struct ClosedOutputTests {
    @Test func aClosedOutputEndsKithQuietly() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        defer { relay.stop() }
        try kithOK(["init", "--home", dir + "/alice", "--name", "alice", "--relay", relay.url])
        let output = Pipe(), errors = Pipe()
        // The reading end is closed before kith starts: its first write fails.
        try output.fileHandleForReading.close()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: kithBinary)
        process.arguments = ["whoami", "--home", dir + "/alice"]
        process.environment = ["KITH_PASSPHRASE": "test passphrase"]
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        try output.fileHandleForWriting.close()
        process.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationReason == .exit, "kith was stopped by signal \(process.terminationStatus)")
        #expect(process.terminationStatus == 141, "\(stderr)")
        #expect(stderr.isEmpty, "\(stderr)")
    }
}
