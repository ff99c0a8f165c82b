import Foundation
import Testing

/// `kith daemon` reads its config strictly: every bad key or value stops it
/// before it does anything, with a message naming the key and the file.
@Suite struct DaemonConfigTests {
    /// Runs `kith daemon` on a directory whose kith.yaml is `yaml`.
    func refused(_ yaml: String?, env: [String: String] = [:]) throws -> (output: Output, file: String) {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/kith.yaml"
        if let yaml { try yaml.write(toFile: file, atomically: true, encoding: .utf8) }
        let output = try kith(["daemon", "--home", dir], env: env)
        #expect(output.status != 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/daemon.lock"), "the daemon started")
        #expect(!FileManager.default.fileExists(atPath: dir + "/daemon.sock"), "the daemon started")
        return (output, file)
    }

    @Test func anUnknownKeyIsAnErrorNamingItAndTheFile() async throws {
        try await offPool {
            let (top, file) = try refused("sync:\n  interval: 60\nsyncc:\n  interval: 5\n")
            #expect(top.stderr.contains("unknown key \"syncc\""), "\(top.stderr)")
            #expect(top.stderr.contains(file))
            let (nested, _) = try refused("sync:\n  intervall: 60\n")
            #expect(nested.stderr.contains("unknown key \"sync.intervall\""), "\(nested.stderr)")
            let (deep, _) = try refused("outbox:\n  max_age_days:\n    days: 3\n")
            #expect(deep.stderr.contains("\"outbox.max_age_days\" must be a whole number"), "\(deep.stderr)")
        }
    }

    @Test func aWrongTypeIsAnErrorNamingTheKeyAndTheFile() async throws {
        try await offPool {
            let (output, file) = try refused("sync:\n  interval: soon\n")
            #expect(output.stderr.contains("\"sync.interval\" in \(file) must be a whole number from 5 to 86400"), "\(output.stderr)")
            let (flag, flagFile) = try refused("sync:\n  after_post: maybe\n")
            #expect(flag.stderr.contains("\"sync.after_post\" in \(flagFile) must be true or false"), "\(flag.stderr)")
            let (section, _) = try refused("log: loud\n")
            #expect(section.stderr.contains("\"log\" must be a section"), "\(section.stderr)")
            let (list, _) = try refused("log:\n  level: [info, debug]\n")
            #expect(list.stderr.contains("\"log.level\" must be a string, not a list"), "\(list.stderr)")
        }
    }

    @Test func anImpossibleValueIsAnErrorNamingTheKeyAndTheFile() async throws {
        try await offPool {
            let (zero, file) = try refused("outbox:\n  max_age_days: 0\n")
            #expect(zero.stderr.contains("\"outbox.max_age_days\" in \(file) must be a whole number from 1 to 3650"), "\(zero.stderr)")
            let (level, levelFile) = try refused("log:\n  level: loud\n")
            #expect(level.stderr.contains("\"log.level\" in \(levelFile) must be trace, debug"), "\(level.stderr)")
            let (web, webFile) = try refused("web:\n  listen: 0.0.0.0:8484\n")
            #expect(web.stderr.contains("\"web.listen\" in \(webFile) must be 127.0.0.1:PORT or [::1]:PORT"), "\(web.stderr)")
            let (retry, _) = try refused("outbox:\n  retry_first: 60\n  retry_longest: 10\n")
            #expect(retry.stderr.contains("\"outbox.retry_longest\""), "\(retry.stderr)")
        }
    }

    @Test func theEnvironmentOverridesAndIsCheckedToo() async throws {
        try await offPool {
            let (output, _) = try refused("sync:\n  interval: 60\n", env: ["KITH_SYNC_INTERVAL": "often"])
            #expect(output.stderr.contains("KITH_SYNC_INTERVAL must be a whole number from 5 to 86400"), "\(output.stderr)")
            let (range, _) = try refused(nil, env: ["KITH_OUTBOX_MAX_AGE_DAYS": "99999"])
            #expect(range.stderr.contains("KITH_OUTBOX_MAX_AGE_DAYS must be a whole number from 1 to 3650"), "\(range.stderr)")
        }
    }

    @Test func thePassphraseDoesNotBelongInTheFile() async throws {
        try await offPool {
            let (output, _) = try refused("passphrase: hunter2hunter2\n")
            #expect(output.stderr.contains("the passphrase does not belong in the config file"), "\(output.stderr)")
            #expect(!output.stderr.contains("hunter2"))
        }
    }

    @Test func notYAMLIsAnError() async throws {
        try await offPool {
            let (output, file) = try refused("sync: [unclosed\n")
            #expect(output.stderr.contains("\(file) is not valid YAML"), "\(output.stderr)")
        }
    }

    /// A good config passes the checks: the daemon then stops only because the directory holds no node.
    @Test func theExampleIsAccepted() async throws {
        try await offPool {
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try FileManager.default.copyItem(atPath: exampleConfig, toPath: dir + "/kith.yaml")
            let output = try kith(["daemon", "--home", dir])
            #expect(output.status != 0)
            #expect(output.stderr.contains("is not a Kith node"), "\(output.stderr)")
        }
    }
}

/// config/kith.example.yaml in the source tree.
let exampleConfig = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("config/kith.example.yaml").path
