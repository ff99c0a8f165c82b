import Foundation
import Testing

/// The command line with and without a daemon: every command that needs the
/// keys goes through the daemon's control socket (no passphrase), only to
/// its owner; commands run at once, with or without a daemon, lose nothing.
@Suite(.serialized) struct ControlTests {
    /// `kith ARGS` processes all at once; their results in order.
    func atOnce(_ runs: [[String]], passphrase: String? = "test passphrase") -> [Result<Output, any Error>] {
        let results = ResultsBox(count: runs.count)
        DispatchQueue.concurrentPerform(iterations: runs.count) { i in
            results.set(i, Result { try kith(runs[i], passphrase: passphrase) })
        }
        return results.values
    }

    func keys(_ home: String, passphrase: String? = "test passphrase") throws -> [String: Any] {
        try jsonObject(try kithOK(["key", "show", "--home", home, "--json"], passphrase: passphrase))
    }

    @Test(.timeLimit(.minutes(5))) func friendGroupKeyAndRelayCommandsGoThroughTheDaemon() async throws {
        try await withAliceAndBob { dir, relay, alice, _ in
            let second = try RelayProcess(home: dir + "/second")
            defer { second.stop() }
            let carol = dir + "/carol"
            try kithOK(["init", "--home", carol, "--name", "carol", "--relay", relay.url])
            let daemon = try DaemonProcess(home: alice)
            // No passphrase from here on: each of these is answered by the daemon.
            @discardableResult func run(_ args: [String]) throws -> String { try kithOK(args + ["--home", alice], passphrase: nil) }
            #expect(try run(["whoami"]).hasPrefix("alice  "))
            #expect(try run(["friend", "list"]).hasPrefix("bob  "))
            try kithOK(["friend", "add", "--home", carol, try run(["card", "--for", "carol"])])
            #expect(try run(["friend", "add", try kithOK(["card", "--home", carol])]).hasPrefix("carol\n  fingerprint "))
            #expect(try run(["friend", "verify", "carol", "--confirm"]).count > 20)
            try run(["group", "create", "work"])
            try run(["group", "add", "work", "carol"])
            try run(["group", "remove", "family", "bob"])
            #expect(try run(["group", "list"]).contains("work: carol"))
            let schedule = try run(["key", "schedule", "--every", "3", "--grace", "2"])
            #expect(schedule.contains("every 3 days") && schedule.contains("2 days"), "\(schedule)")
            try run(["key", "rotate"])
            try run(["relay", "add", second.url])
            // A thread, through the daemon too: a post, a comment on it, a reaction, an edit and a delete.
            let post = try run(["post", "--to", "work", "through the daemon"]).trimmingCharacters(in: .whitespacesAndNewlines)
            let comment = try run(["comment", post, "a comment"]).trimmingCharacters(in: .whitespacesAndNewlines)
            try run(["react", post, "👍"])
            try run(["edit", comment, "an edited comment"])
            let thread = try #require(try JSONDecoder().decode(FeedPage<ThreadedItem>.self, from: Data(run(["feed", "--json"]).utf8)).posts.first { $0.id == post })
            #expect(thread.comments.map(\.text) == ["an edited comment"] && thread.reactions.map(\.emoji) == ["👍"])
            try run(["delete", post])
            #expect(try run(["feed", "--json"]).contains(post) == false)
            try run(["friend", "remove", "carol"])
            // A bad input through the daemon: its one-line error, as without a daemon.
            let bad = try kith(["group", "add", "--home", alice, "work", "nobody"], passphrase: nil)
            #expect(bad.status == 1 && bad.stderr.hasPrefix("kith: error: ") && bad.stderr.contains("nobody"), "\(bad.stderr)")
            let passwd = try kith(["key", "passwd", "--home", alice], env: ["KITH_NEW_PASSPHRASE": "another test passphrase"])
            #expect(passwd.status != 0 && passwd.stderr.contains("a daemon runs for"), "\(passwd.stderr)")
            let shown = try keys(alice, passphrase: nil)
            #expect(daemon.stop() == 0)

            // The daemon wrote the keystore and the database as the commands asked: read back without it.
            let after = try keys(alice)
            #expect((after["mailboxes"] as? [[String: Any]])?.count == 2)
            #expect((after["oldKeys"] as? [Any])?.count == 1)
            #expect((after["rotation"] as? [String: Any])?["everyDays"] as? Int == 3)
            #expect((after["encryptionKey"] as? [String: Any])?["publicKey"] as? String
                == (shown["encryptionKey"] as? [String: Any])?["publicKey"] as? String)
            #expect(try kithOK(["friend", "list", "--home", alice]).split(separator: "\n").count == 1)
            #expect(try kithOK(["group", "list", "--home", alice]).contains("family: (no members)"))
            try kithOK(["key", "passwd", "--home", alice], env: ["KITH_NEW_PASSPHRASE": "another test passphrase"])
        }
    }

    /// Without a daemon, rotations and a relay change from processes run at
    /// once all land in the keystore: each rewrites it under the node's lock,
    /// from the file as it is then.
    @Test(.timeLimit(.minutes(5))) func keystoreRewritesAtOnceKeepEveryChange() async throws {
        try await withAliceAndBob { dir, _, alice, _ in
            let second = try RelayProcess(home: dir + "/second")
            defer { second.stop() }
            let runs = Array(repeating: ["key", "rotate", "--home", alice], count: 3) + [["relay", "add", "--home", alice, second.url]]
            for result in atOnce(runs) {
                let output = try result.get()
                #expect(output.status == 0, "\(output.stderr)")
            }
            let after = try keys(alice)
            #expect((after["mailboxes"] as? [[String: Any]])?.count == 2)
            #expect((after["oldKeys"] as? [Any])?.count == 3)
            // The current key is the one the database publishes, and the node still syncs with its keys.
            try kithOK(["sync", "--home", alice])
        }
    }

    /// Posts from processes run at once all land: first without a daemon
    /// (each process writes the database), then through the daemon.
    @Test(.timeLimit(.minutes(5))) func postsFromManyProcessesAtOnceAllLand() async throws {
        try await withAliceAndBob { _, _, alice, bob in
            let direct = (1...5).map { "direct \($0)" }
            for result in atOnce(direct.map { ["post", "--home", alice, "--to", "family", $0] }) {
                let output = try result.get()
                #expect(output.status == 0, "\(output.stderr)")
            }
            let daemon = try DaemonProcess(home: alice)
            let through = (1...8).map { "through the daemon \($0)" }
            for result in atOnce(through.map { ["post", "--home", alice, "--to", "family", $0] }, passphrase: nil) {
                let output = try result.get()
                #expect(output.status == 0, "\(output.stderr)")
            }
            #expect(try Set(feed(alice).map(\.text)) == Set(direct + through))
            try kithOK(["sync", "--home", alice, "--retry-now"], passphrase: nil)
            #expect(daemon.stop() == 0)
            try kithOK(["sync", "--home", bob])
            #expect(try Set(feed(bob).map(\.text)) == Set(direct + through))
        }
    }

    /// A connection from another user is closed unanswered even when the
    /// socket's mode would let it in; the owner's is served.
    @Test(.timeLimit(.minutes(3)), .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")))
    func theControlSocketServesOnlyItsOwner() async throws {
        try await withAliceAndBob { dir, _, alice, _ in
            let open = dir + "/open"
            try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: true)
            chmod(dir, 0o755)
            chmod(open, 0o777)
            let socket = open + "/control.sock"
            let daemon = try DaemonProcess(home: alice, env: DaemonProcess.quick.merging(["KITH_CONTROL_SOCKET": socket]) { $1 })
            defer { daemon.stop() }
            chmod(socket, 0o666)
            func curl(as user: [String]) throws -> Output {
                try runProgram(user + ["/usr/bin/curl", "-sS", "--max-time", "20", "--unix-socket", socket, "http://kith/v1/status"])
            }
            let owner = try curl(as: [])
            #expect(owner.status == 0 && owner.stdout.contains("\"fingerprint\""), "\(owner.stderr)")
            let stranger = try curl(as: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
            #expect(stranger.status != 0 && !stranger.stdout.contains("fingerprint"), "\(stranger.stdout) \(stranger.stderr)")
            #expect(!stranger.stderr.contains("Permission denied"), "the socket's mode, not the daemon, refused: \(stranger.stderr)")
            let log = try String(contentsOfFile: alice + ".log", encoding: .utf8)
            #expect(log.contains("control connection refused") && log.contains("peer uid 65534"), "\(log)")
        }
    }
}

/// Results filled in by concurrent jobs.
final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<Output, any Error>]
    init(count: Int) { results = Array(repeating: .failure(CancellationError()), count: count) }
    func set(_ i: Int, _ result: Result<Output, any Error>) { lock.withLock { results[i] = result } }
    var values: [Result<Output, any Error>] { lock.withLock { results } }
}

/// A program other than kith, run to completion.
func runProgram(_ command: [String]) throws -> Output {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst())
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Output(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
}

func jsonObject(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
}

/// A scratch directory with a relay, and alice and bob as friends with
/// alice's audience "family" holding bob; all removed and stopped after `body`.
func withAliceAndBob(_ body: @escaping @Sendable (_ dir: String, _ relay: RelayProcess, _ alice: String, _ bob: String) throws -> Void) async throws {
    try await offPool {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        defer { relay.stop() }
        let (alice, bob) = try aliceBobAndFamily(in: dir, relay: relay)
        try body(dir, relay, alice, bob)
    }
}
