import Foundation
import Testing

/// Output of a running process, collected as it comes.
private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    func append(_ data: Data) { lock.withLock { text += String(decoding: data, as: UTF8.self) } }
    var value: String { lock.withLock { text } }

    /// Waits until `predicate` holds for the output, or `seconds` pass
    /// (sleeping as a task, so no thread of the test pool is held).
    func wait(seconds: Double, until predicate: (String) -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if predicate(value) { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return predicate(value)
    }
}

/// `kith sync --wait`: syncs, waits for mail, and syncs again when it comes.
@Suite(.serialized) struct SyncWaitTests {
    @Test func aWaitingSyncFetchesAPostSoonAfterItIsDropped() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        defer { relay.stop() }
        let (alice, bob) = try aliceAndBob(in: dir, relay: relay)
        try await kithOKAsync(["group", "create", "--home", alice, "friends"])
        try await kithOKAsync(["group", "add", "--home", alice, "friends", "bob"])
        try await kithOKAsync(["sync", "--home", alice])

        let process = Process()
        process.executableURL = URL(fileURLWithPath: kithBinary)
        process.arguments = ["sync", "--home", bob, "--wait"]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "KITH_HOME")
        environment.removeValue(forKey: "KITH_PASSPHRASE_FILE")
        environment["KITH_PASSPHRASE"] = "test passphrase"
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        let collected = Collected()
        out.fileHandleForReading.readabilityHandler = { handle in collected.append(handle.availableData) }
        try process.run()
        defer {
            if process.isRunning { process.interrupt(); process.waitUntilExit() }
            out.fileHandleForReading.readabilityHandler = nil
        }
        // The first sync takes the audience key; then it waits.
        #expect(try await collected.wait(seconds: 120) { $0.contains("new audience keys 1") }, "\(collected.value)")
        try await kithOKAsync(["post", "--home", alice, "--to", "friends", "hello while you wait"])
        try await kithOKAsync(["sync", "--home", alice])
        #expect(try await collected.wait(seconds: 120) { $0.contains("new posts 1") }, "\(collected.value)")
        process.interrupt()
        process.waitUntilExit()
        #expect(try await feedAsync(bob).map(\.text) == ["hello while you wait"])
    }
}
