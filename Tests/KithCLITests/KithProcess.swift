import Foundation
import Testing

/// The `kith` binary built beside the test bundle (`swift build --build-tests`).
let kithBinary: String = {
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

struct Output {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs `kith` to completion.
@discardableResult
func kith(_ args: [String], passphrase: String? = "test passphrase", stdin: String? = nil, env: [String: String] = [:]) throws -> Output {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: kithBinary)
    process.arguments = args
    var environment = ProcessInfo.processInfo.environment
    environment.removeValue(forKey: "KITH_HOME")
    environment.removeValue(forKey: "KITH_PASSPHRASE")
    environment.removeValue(forKey: "KITH_PASSPHRASE_FILE")
    if let passphrase { environment["KITH_PASSPHRASE"] = passphrase }
    environment.merge(env) { $1 }
    process.environment = environment
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    // kith may stop reading (refusing oversized input) before all is written: a broken pipe is then
    // an error to ignore here, not a signal that kills the tests.
    signal(SIGPIPE, SIG_IGN)
    if let stdin { try? input.fileHandleForWriting.write(contentsOf: Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    // Read both pipes to the end before waiting, so a full pipe cannot block the child.
    // (On a GCD thread: blocking Swift concurrency's small pool could deadlock.)
    let errBox = ResultBox()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errBox.data = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    let stderr = String(decoding: errBox.data, as: UTF8.self)
    return Output(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: stderr)
}

private final class ResultBox: @unchecked Sendable { var data = Data() }

/// Runs `kith` and requires success; returns stdout without the final newline.
@discardableResult
func kithOK(_ args: [String], passphrase: String? = "test passphrase", env: [String: String] = [:],
            sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let r = try kith(args, passphrase: passphrase, env: env)
    #expect(r.status == 0, "kith \(args.first ?? "") failed: \(r.stderr)", sourceLocation: sourceLocation)
    return r.stdout.trimmingCharacters(in: .newlines)
}

/// A `kith relay` process on 127.0.0.1, stopped with SIGTERM by `stop()`.
final class RelayProcess: @unchecked Sendable {
    let process = Process()
    let home: String
    private(set) var url = ""

    init(home: String, port: Int = 0, arguments: [String] = []) throws {
        self.home = home
        try start(["relay", "--home", home, "--listen", "127.0.0.1:\(port)", "--log-level", "warning"] + arguments)
    }

    /// A relay whose settings all come from a config file.
    init(configFile: String, home: String) throws {
        self.home = home
        try start(["relay", "--config", configFile])
    }

    private func start(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: kithBinary)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        while !text.contains("\n"), Date() < deadline {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first, line.hasPrefix("listening on ") else {
            process.terminate()
            throw RelayError(message: "relay did not start: \(text)")
        }
        url = String(line.dropFirst("listening on ".count))
    }

    var port: Int { Int(url.split(separator: ":").last!)! }

    /// Sends SIGTERM and returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    deinit { if process.isRunning { process.terminate(); process.waitUntilExit() } }

    struct RelayError: Error { let message: String }
}

func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "kith-cli-" + UUID().uuidString.prefix(8)
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

struct FeedItem: Decodable, Equatable {
    let id: String
    let author: String
    let audience: String
    let text: String
    let created_at: String
}

/// `kith feed --json`, every post: {"posts": [...], "more": N, "next_before": ID}.
struct FeedPage<Item: Decodable>: Decodable {
    let posts: [Item]
    let more: Int
    let next_before: String?
}

/// The posts of `kith feed --all --json`.
func feedPosts<Item: Decodable>(_ home: String, _ extra: [String] = [], passphrase: String? = "test passphrase",
                                as: Item.Type = FeedItem.self) throws -> [Item] {
    try JSONDecoder().decode(FeedPage<Item>.self, from: Data(try kithOK(["feed", "--home", home, "--all", "--json"] + extra,
                                                                        passphrase: passphrase).utf8)).posts
}

func feed(_ home: String) throws -> [FeedItem] { try feedPosts(home) }

/// Whether any of the relay's database files contains `text`.
func relayFiles(in home: String, contain text: String) throws -> Bool {
    let needle = Data(text.utf8)
    return try FileManager.default.contentsOfDirectory(atPath: home).contains { name in
        guard let data = FileManager.default.contents(atPath: home + "/" + name) else { return false }
        return data.range(of: needle) != nil
    }
}

/// alice and bob, each with a node on `relay` and the other's card: the start of most scenarios.
func aliceAndBob(in dir: String, relay: RelayProcess) throws -> (alice: String, bob: String) {
    try aliceAndBob(in: dir, relayURL: relay.url)
}

func aliceAndBob(in dir: String, relayURL: String) throws -> (alice: String, bob: String) {
    let homes = try people(["alice", "bob"], in: dir, relayURL: relayURL)
    try befriend(homes[0], homes[1])
    return (homes[0], homes[1])
}

/// `kith init` of one node per name, in `dir/NAME`, on one relay; their directories, in order.
func people(_ names: [String], in dir: String, relayURL: String) throws -> [String] {
    try names.map { name in
        let home = dir + "/" + name
        try kithOK(["init", "--home", home, "--name", name, "--relay", relayURL])
        return home
    }
}

/// `a` and `b` add each other's card.
func befriend(_ a: String, _ b: String) throws {
    try kithOK(["friend", "add", "--home", a, try kithOK(["card", "--home", b])])
    try kithOK(["friend", "add", "--home", b, try kithOK(["card", "--home", a])])
}

/// alice and bob as friends, with an audience "family" of alice's holding bob.
func aliceBobAndFamily(in dir: String, relay: RelayProcess) throws -> (alice: String, bob: String) {
    try aliceBobAndFamily(in: dir, relayURL: relay.url)
}

func aliceBobAndFamily(in dir: String, relayURL: String) throws -> (alice: String, bob: String) {
    let (alice, bob) = try aliceAndBob(in: dir, relayURL: relayURL)
    try kithOK(["group", "create", "--home", alice, "family"])
    try kithOK(["group", "add", "--home", alice, "family", "bob"])
    return (alice, bob)
}

/// Runs `kith args` on a pseudo-terminal (util-linux `script`), answering each prompt in turn.
func onTerminal(_ args: [String], answers: [(prompt: String, reply: String)]) throws -> (status: Int32, screen: String) {
    let command = ([kithBinary] + args).map { "'\($0)'" }.joined(separator: " ")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
    process.arguments = ["-qefc", command, "/dev/null"]
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "KITH_PASSPHRASE")
    env.removeValue(forKey: "KITH_PASSPHRASE_FILE")
    env.removeValue(forKey: "KITH_NEW_PASSPHRASE")
    process.environment = env
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = output
    try process.run()
    var screen = ""
    for answer in answers {
        let deadline = Date().addingTimeInterval(60)
        while !screen.hasSuffix(answer.prompt), Date() < deadline {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            screen += String(decoding: data, as: UTF8.self)
        }
        #expect(screen.hasSuffix(answer.prompt), "no prompt \(answer.prompt): \(screen)")
        input.fileHandleForWriting.write(Data((answer.reply + "\n").utf8))
    }
    screen += String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, screen)
}
