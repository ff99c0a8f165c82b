import Foundation
import KithCrypto
import KithProtocol
import Testing

/// `kith daemon` as people run it: real relays and daemons as processes.
@Suite(.serialized) struct DaemonTests {
    func texts(_ home: String) throws -> [String] { try feed(home).map(\.text) }

    @Test(.timeLimit(.minutes(3))) func initWritesTheExampleConfigAndTheCommandLineGoesThroughTheDaemon() async throws {
        try await offPool {
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let relay = try RelayProcess(home: dir + "/relay")
            let (alice, bob) = try aliceBobAndFamily(in: dir, relay: relay)
            #expect(try String(contentsOfFile: alice + "/kith.yaml", encoding: .utf8) == String(contentsOfFile: exampleConfig, encoding: .utf8))

            let daemon = try DaemonProcess(home: alice)
            var st = stat()
            #expect(stat(daemon.socket, &st) == 0 && st.st_mode & 0o777 == 0o600)
            // No passphrase: post, feed, sync and status go through the daemon.
            let id = try kithOK(["post", "--home", alice, "--to", "family", "through the daemon"], passphrase: nil)
            #expect(id.count == 32)
            let mine = try feedPosts(alice, passphrase: nil)
            #expect(mine.map(\.text) == ["through the daemon"])
            try kithOK(["sync", "--home", alice], passphrase: nil)
            let status = try kithOK(["status", "--home", alice], passphrase: nil)
            #expect(status.contains("daemon     pid ") && status.contains("outbox     0 queued"), "\(status)")
            // A second daemon for the same node is refused.
            let second = try kith(["daemon", "--home", alice])
            #expect(second.status != 0 && second.stderr.contains("a daemon already runs"), "\(second.stderr)")

            try kithOK(["sync", "--home", bob])
            #expect(try texts(bob) == ["through the daemon"])
            #expect(daemon.stop() == 0)
            // Without the daemon, status reads the node itself, which needs the passphrase.
            #expect(try kith(["status", "--home", alice], passphrase: nil).status != 0)
            #expect(try kithOK(["status", "--home", alice]).contains("daemon     none runs"))
        }
    }

    /// Debug logs of two daemons through a post and its delivery: one line per
    /// event, and none of them holds the post's text, a friend's name, the
    /// passphrase, or a drop token or key of either card, in any encoding.
    @Test(.timeLimit(.minutes(3))) func logsHoldNoSecretsOrPlaintext() async throws {
        try await offPool {
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let relay = try RelayProcess(home: dir + "/relay")
            defer { relay.stop() }
            let alice = dir + "/alice", bob = dir + "/bob"
            for (name, home) in [("alice", alice), ("bob", bob)] { try kithOK(["init", "--home", home, "--name", name, "--relay", relay.url]) }
            let aliceCard = try kithOK(["card", "--home", alice]), bobCard = try kithOK(["card", "--home", bob])
            try kithOK(["friend", "add", "--home", alice, bobCard])
            try kithOK(["friend", "add", "--home", bob, aliceCard])
            let aliceDaemon = try DaemonProcess(home: alice), bobDaemon = try DaemonProcess(home: bob)
            try kithOK(["group", "create", "--home", alice, "family"], passphrase: nil)
            try kithOK(["group", "add", "--home", alice, "family", "bob"], passphrase: nil)
            let text = "the secret plans for saturday"
            try kithOK(["post", "--home", alice, "--to", "family", text], passphrase: nil)
            try kithOK(["sync", "--home", alice], passphrase: nil)
            #expect(try eventually(60) { try kithOK(["feed", "--home", bob, "--json"], passphrase: nil).contains(text) })
            try kithOK(["sync", "--home", bob], passphrase: nil)
            #expect(aliceDaemon.stop() == 0)
            #expect(bobDaemon.stop() == 0)

            var secrets: [(what: String, bytes: [UInt8])] = []
            for card in [try ContactCard(text: aliceCard), try ContactCard(text: bobCard)] {
                secrets.append(("identity key", card.identity))
                secrets.append(("encryption key", card.encryptionKey.publicKey))
                for inbox in card.inboxes { secrets += [("mailbox id", inbox.mailbox), ("drop token", inbox.dropToken)] }
            }
            for (home, friend) in [(alice, "bob"), (bob, "alice")] {
                let log = try String(contentsOfFile: home + ".log", encoding: .utf8)
                let lines = log.split(separator: "\n")
                #expect(lines.count > 5 && lines.contains { $0.contains(" debug ") } && lines.contains { $0.contains("synced") }, "\(log)")
                // One event a line: each starts with its time.
                #expect(lines.allSatisfy { $0.hasPrefix("20") }, "\(log)")
                for needle in [text, "saturday", friend, "family", "test passphrase", aliceCard, bobCard] {
                    #expect(!log.contains(needle), "the log of \(home) holds \(needle)")
                }
                for (what, bytes) in secrets {
                    for form in [Base64URL.encode(bytes), Data(bytes).base64EncodedString(), Hex.encode(bytes)] {
                        #expect(!log.lowercased().contains(form.lowercased()), "the log of \(home) holds a \(what)")
                    }
                }
            }
        }
    }

    /// A post made while the relay is down reaches bob once it is up, with no command.
    @Test(.timeLimit(.minutes(3))) func aPostWhileTheRelayIsDownIsDeliveredWhenItComesBack() async throws {
        try await offPool {
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var relay = try RelayProcess(home: dir + "/relay")
            let port = relay.port
            let (alice, bob) = try aliceBobAndFamily(in: dir, relay: relay)
            let aliceDaemon = try DaemonProcess(home: alice)
            #expect(relay.stop() == 0)
            try kithOK(["post", "--home", alice, "--to", "family", "while the relay was down"], passphrase: nil)
            Thread.sleep(forTimeInterval: 3)
            relay = try RelayProcess(home: dir + "/relay", port: port)
            let bobDaemon = try DaemonProcess(home: bob)
            #expect(try eventually { try texts(bob) == ["while the relay was down"] })
            #expect(aliceDaemon.stop() == 0)
            #expect(bobDaemon.stop() == 0)
            relay.stop()
        }
    }

    /// SIGTERM stops the daemon with status 0 and loses nothing queued.
    @Test(.timeLimit(.minutes(3))) func sigtermStopsCleanlyAndKeepsTheQueue() async throws {
        try await offPool {
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var relay = try RelayProcess(home: dir + "/relay")
            let port = relay.port
            let (alice, bob) = try aliceBobAndFamily(in: dir, relay: relay)
            relay.stop()
            for signal in [SIGTERM, SIGINT] {
                let daemon = try DaemonProcess(home: alice)
                try kithOK(["post", "--home", alice, "--to", "family", "queued before signal \(signal)"], passphrase: nil)
                let sent = Date()
                kill(daemon.process.processIdentifier, signal)
                daemon.process.waitUntilExit()
                #expect(daemon.process.terminationReason == .exit && daemon.process.terminationStatus == 0)
                #expect(Date().timeIntervalSince(sent) < 30, "the daemon took \(Date().timeIntervalSince(sent)) s to stop")
                #expect(!FileManager.default.fileExists(atPath: daemon.socket))
            }
            relay = try RelayProcess(home: dir + "/relay", port: port)
            // --retry-now: the daemons last tried a moment ago, so the queued deliveries are not due yet.
            try kithOK(["sync", "--home", alice, "--retry-now"])
            try kithOK(["sync", "--home", bob])
            #expect(try Set(texts(bob)) == ["queued before signal \(SIGTERM)", "queued before signal \(SIGINT)"])
            relay.stop()
        }
    }

    /// kill -9 the daemons at random moments while they deliver and fetch,
    /// again and again; after restarts every post is in bob's feed exactly once.
    @Test(.timeLimit(.minutes(3))) func killedDaemonsLoseNothingAndShowNothingTwice() async throws {
        try await offPool {
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let relay = try RelayProcess(home: dir + "/relay")
            let (alice, bob) = try aliceBobAndFamily(in: dir, relay: relay)
            var aliceDaemon = try DaemonProcess(home: alice)
            var bobDaemon = try DaemonProcess(home: bob)
            var posted: [String] = []
            var generator = SystemRandomNumberGenerator()
            for round in 1...6 {
                for n in 1...4 {
                    let text = "round \(round) post \(n)"
                    try kithOK(["post", "--home", alice, "--to", "family", text], passphrase: nil)
                    posted.append(text)
                }
                // Right after posting alice delivers; bob fetches every few seconds or when asked.
                if round % 2 == 0 { _ = try? kith(["sync", "--home", bob], passphrase: nil) }
                Thread.sleep(forTimeInterval: Double.random(in: 0...1.5, using: &generator))
                switch round % 3 {
                case 0:
                    aliceDaemon.kill()
                    aliceDaemon = try DaemonProcess(home: alice)
                case 1:
                    bobDaemon.kill()
                    bobDaemon = try DaemonProcess(home: bob)
                default:
                    aliceDaemon.kill()
                    bobDaemon.kill()
                    aliceDaemon = try DaemonProcess(home: alice)
                    bobDaemon = try DaemonProcess(home: bob)
                }
            }
            #expect(try eventually { try texts(bob).count >= posted.count })
            // Once more, so that anything fetched twice would show.
            try kithOK(["sync", "--home", alice], passphrase: nil)
            try kithOK(["sync", "--home", bob], passphrase: nil)
            let seen = try texts(bob)
            #expect(seen.sorted() == posted.sorted(), "bob's feed: \(seen)")
            #expect(aliceDaemon.stop() == 0)
            #expect(bobDaemon.stop() == 0)
            relay.stop()
        }
    }

    /// With relay.enabled the daemon serves a relay too: another node registers and posts through it.
    @Test(.timeLimit(.minutes(3))) func theDaemonCanServeARelay() async throws {
        try await offPool {
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let outside = try RelayProcess(home: dir + "/outside")
            let host = dir + "/host"
            try kithOK(["init", "--home", host, "--name", "host", "--relay", outside.url])
            let daemon = try DaemonProcess(home: host, env: DaemonProcess.quick.merging(["KITH_RELAY_ENABLED": "true", "KITH_RELAY_LISTEN": "127.0.0.1:0"]) { $1 })
            let url = try #require(daemon.relay)
            #expect(FileManager.default.fileExists(atPath: host + "/relay/relay.sqlite"))
            let (alice, bob) = try aliceBobAndFamily(in: dir, relayURL: url)
            try kithOK(["post", "--home", alice, "--to", "family", "through the embedded relay"])
            try kithOK(["sync", "--home", alice])
            try kithOK(["sync", "--home", bob])
            #expect(try texts(bob) == ["through the embedded relay"])
            #expect(daemon.stop() == 0)
            outside.stop()
        }
    }

    /// The daemon unlocks with the config's passphrase_file, which must be private.
    @Test(.timeLimit(.minutes(3))) func thePassphraseFileMustBePrivate() async throws {
        try await offPool {
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let relay = try RelayProcess(home: dir + "/relay")
            let alice = dir + "/alice"
            try kithOK(["init", "--home", alice, "--name", "alice", "--relay", relay.url])
            let secret = dir + "/secret"
            try "test passphrase\n".write(toFile: secret, atomically: true, encoding: .utf8)
            chmod(secret, 0o644)
            let env = ["KITH_PASSPHRASE_FILE": secret]
            let open = try kith(["daemon", "--home", alice], passphrase: nil, env: env)
            #expect(open.status != 0 && open.stderr.contains("is accessible by other users"), "\(open.stderr)")
            #expect(!open.stderr.contains("test passphrase"))
            chmod(secret, 0o600)
            let daemon = try DaemonProcess(home: alice, env: DaemonProcess.quick.merging(env) { $1 }, passphrase: nil)
            #expect(try kithOK(["status", "--home", alice], passphrase: nil).contains("daemon     pid"))
            #expect(daemon.stop() == 0)
            relay.stop()
        }
    }
}

extension DaemonTests {
    /// With the relay's push, bob's daemon fetches alice's post as soon as it
    /// is dropped, long before its next scheduled sync (an hour away).
    @Test(.timeLimit(.minutes(3))) func pushBringsAPostAtOnce() async throws {
        try await offPool {
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let relay = try RelayProcess(home: dir + "/relay")
            let (alice, bob) = try aliceBobAndFamily(in: dir, relay: relay)
            let hourly = DaemonProcess.quick.merging(["KITH_SYNC_INTERVAL": "3600"]) { $1 }
            let bobDaemon = try DaemonProcess(home: bob, env: hourly)
            let aliceDaemon = try DaemonProcess(home: alice, env: hourly)
            Thread.sleep(forTimeInterval: 2)
            try kithOK(["post", "--home", alice, "--to", "family", "pushed"], passphrase: nil)
            #expect(try eventually(30) { try texts(bob) == ["pushed"] })
            #expect(aliceDaemon.stop() == 0)
            #expect(bobDaemon.stop() == 0)
            relay.stop()
        }
    }
}
