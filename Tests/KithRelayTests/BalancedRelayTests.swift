import Foundation
import KithCrypto
import KithNode
import KithProtocol
import KithRelayPostgres
import Testing

/// Several real `kith relay` processes on one PostgreSQL database (each test
/// its own, on the cluster of `scripts/with-postgres.sh`), alone and behind
/// a real nginx: they serve the same mailboxes interchangeably, share the
/// nonces that refuse replays, wake each other's waits, lose nothing
/// acknowledged when one is killed mid-upload, answer 503 while the
/// database is away and recover by themselves.
@Suite(.serialized, .timeLimit(.minutes(5))) struct BalancedRelayTests {
    static let metricsToken = "balanced-relay-test-token"

    /// Two relay processes on a fresh database, trusting nginx on loopback
    /// for X-Forwarded-For; `body` gets them and their config section.
    static func withTwoRelays(_ settings: [String: any Sendable] = [:],
                              _ body: (RelayProcess, RelayProcess, [String: any Sendable]) async throws -> Void) async throws {
        let (database, cleanup) = try await TestPostgres.freshDatabase()
        let dir = try scratchDirectory("store")
        var section = try postgresStore(database, passwordIn: dir)
        section["trusted_proxies"] = ["127.0.0.1"]
        section["metrics_token"] = metricsToken
        section.merge(settings) { $1 }
        do {
            let a = try RelayProcess(relay: section), b = try RelayProcess(relay: section)
            try await body(a, b, section)
            a.stop()
            b.stop()
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            await cleanup()
            throw error
        }
        try? FileManager.default.removeItem(atPath: dir)
        await cleanup()
    }

    /// A relay's /metrics text.
    static func metrics(_ port: Int) async throws -> String {
        let connection = try RawConnection(port: port)
        try await connection.send("GET", "/metrics", headers: [("Authorization", "Bearer \(metricsToken)"), ("Connection", "close")])
        let head = try await connection.readHead()
        #expect(head.status == 200)
        return String(decoding: try await connection.read(count: head.contentLength ?? 0), as: UTF8.self)
    }

    /// One metric's value in a /metrics text (the first line that starts with `name`).
    static func value(_ name: String, in text: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") || $0.hasPrefix(name + "{") }
            .flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
    }

    @Test func theDemoThroughTheBalancer() async throws {
        try await Self.withTwoRelays { a, b, _ in
            let nginx = try Balancer(upstreams: [a.port, b.port])
            defer { nginx.stop() }
            let dir = try scratchDirectory("people")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let homes = try ["alice", "bob", "carol"].map { name in
                let home = dir + "/" + name
                try kithOK(["init", "--home", home, "--name", name, "--relay", nginx.url])
                return home
            }
            let (alice, bob, carol) = (homes[0], homes[1], homes[2])
            for friend in [bob, carol] {
                try kithOK(["friend", "add", "--home", alice, try kithOK(["card", "--home", friend])])
                try kithOK(["friend", "add", "--home", friend, try kithOK(["card", "--home", alice])])
            }
            try kithOK(["group", "create", "--home", alice, "family"])
            for member in ["bob", "carol"] { try kithOK(["group", "add", "--home", alice, "family", member]) }
            try kithOK(["post", "--home", alice, "--to", "family", "the baby is here"])
            for home in homes { try kithOK(["sync", "--home", home]) }
            for home in [bob, carol] {
                let page = try JSONSerialization.jsonObject(with: Data(try kithOK(["feed", "--home", home, "--all", "--json"]).utf8)) as? [String: Any]
                let posts = page?["posts"] as? [[String: Any]] ?? []
                #expect(posts.compactMap { $0["text"] as? String } == ["the baby is here"], "\(home)")
            }
            // Both processes served the people's requests, and both see their three mailboxes.
            for port in [a.port, b.port] {
                let text = try await Self.metrics(port)
                #expect(Self.value("kith_relay_mailboxes", in: text) == 3)
                #expect(text.split(separator: "\n").contains { $0.hasPrefix("kith_relay_requests_total{") && $0.contains("mailboxes") })
            }
        }
    }

    @Test func anyProcessServesAnyMailboxAndAReplayIsRefusedByTheOther() async throws {
        try await Self.withTwoRelays { a, b, section in
            let viaA = RelayClient(baseURL: a.url), viaB = RelayClient(baseURL: b.url)
            let box = try await TestMailbox.make(viaA)
            let envelope = envelopeBytes()
            _ = try await viaA.drop(DropRequest(targets: [box.target], envelope: envelope))
            #expect(try await viaB.fetch(mailboxKey: box.key, limit: 10).items.map(\.envelope) == [envelope])
            try await viaB.acknowledge(ids: [Envelope.id(of: envelope)], mailboxKey: box.key)
            #expect(try await viaA.fetch(mailboxKey: box.key, limit: 10).items.isEmpty)

            // One signed request, sent to A and then, word for word, to B.
            let path = "/v1/mailboxes/\(Base64URL.encode(box.key.publicKey))/envelopes?limit=10&after=0"
            let headers = signedHeaders("GET", path, key: box.key) + [("Connection", "close")]
            var statuses: [Int] = []
            for port in [a.port, b.port] {
                let connection = try RawConnection(port: port)
                try await connection.send("GET", path, headers: headers)
                statuses.append(try await connection.readStatus())
            }
            #expect(statuses == [200, 409])

            // `kith relay invite` and `kith relay status` open the same store.
            let store = ["--store", section["store"] as? String ?? "", "--store-password-file", section["store_password_file"] as? String ?? ""]
            let invite = try runProgram(RelayProcess.binary, ["relay", "invite"] + store)
            #expect(invite.status == 0 && (try? RelayInvite(text: invite.stdout.trimmingCharacters(in: .newlines))) != nil, "\(invite.stderr)")
            let status = try runProgram(RelayProcess.binary, ["relay", "status", "--json"] + store)
            #expect(status.status == 0, "\(status.stderr)")
            let counts = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Int]
            #expect(counts?["mailboxes"] == 1 && counts?["envelopes"] == 0 && counts?["databaseBytes"] == nil)
        }
    }

    @Test func aWaitOnOneProcessLearnsOfADropThroughAnother() async throws {
        try await Self.withTwoRelays(["wait_seconds": 28]) { a, b, _ in
            let viaA = RelayClient(baseURL: a.url), viaB = RelayClient(baseURL: b.url)
            let box = try await TestMailbox.make(viaB)
            let waiting = Task { try await viaB.wait(mailboxKey: box.key) }
            // The drop comes once B holds the wait (else B would find the mail without being woken).
            var held = false
            for _ in 0..<300 where !held {
                held = Self.value("kith_relay_push_waiters", in: try await Self.metrics(b.port)) == 1
                if !held { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(held, "B never held the wait")
            _ = try await viaA.drop(DropRequest(targets: [box.target], envelope: envelopeBytes()))
            // Woken by A's drop: a wait that nothing woke would end after 28 seconds without a sequence number.
            #expect(try await waiting.value != nil)
        }
    }

    /// Who has been acknowledged so far, and whether to go on.
    actor Uploads {
        var acknowledged: [[UInt8]] = []
        var stopped = false
        var failed = 0
        func add(_ envelope: [UInt8]) { acknowledged.append(envelope) }
        func fail() { failed += 1 }
        func stop() { stopped = true }
    }

    @Test func processesKilledMidUploadBehindTheBalancerLoseAndDuplicateNothing() async throws {
        var settings = RelayCrashTests.relaxed
        settings["quota_envelopes"] = 1_000_000
        try await Self.withTwoRelays(settings) { a, b, section in
            var processes = [a, b]
            let nginx = try Balancer(upstreams: [a.port, b.port])
            defer { nginx.stop() }
            let relay = RelayClient(baseURL: nginx.url)
            let box = try await TestMailbox.make(relay)
            let uploads = Uploads()
            // Uploaders that go on through failures (a drop cut off by a kill gets 502 from nginx).
            let uploaders = Task {
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<16 {
                        group.addTask {
                            while await !uploads.stopped {
                                let envelope = envelopeBytes()
                                if let result = try? await relay.drop(DropRequest(targets: [box.target], envelope: envelope)), result.accepted == 1 {
                                    await uploads.add(envelope)
                                } else {
                                    await uploads.fail()
                                    try? await Task.sleep(for: .milliseconds(50))
                                }
                            }
                        }
                    }
                }
            }
            /// Waits until `more` drops beyond `count` are acknowledged.
            func acknowledged(beyond count: Int, more: Int) async throws {
                for _ in 0..<1200 where await uploads.acknowledged.count < count + more { try await Task.sleep(for: .milliseconds(50)) }
                #expect(await uploads.acknowledged.count >= count + more)
            }
            // Each process in turn killed with SIGKILL mid-upload and started again on its port.
            for victim in 0..<2 {
                try await acknowledged(beyond: await uploads.acknowledged.count, more: 30)
                let process = processes[victim], port = process.port
                process.kill()
                processes[victim] = try RelayProcess(relay: section, home: process.home, port: port)
            }
            try await acknowledged(beyond: await uploads.acknowledged.count, more: 30)
            await uploads.stop()
            await uploaders.value
            let sent = await uploads.acknowledged
            // The kills cut drops in progress (nginx answered them 502).
            #expect(await uploads.failed > 0)
            let stored = try await RelayCrashTests.drain(relay, box)
            let kept = Set(stored)
            #expect(Set(sent).isSubset(of: kept), "\(Set(sent).subtracting(kept).count) acknowledged envelopes were lost")
            #expect(stored.count == kept.count, "an envelope came twice")
            // Anything beyond the acknowledged ones was whole: a drop the kill cut before its answer.
            #expect(stored.allSatisfy { (try? Envelope(bytes: $0)) != nil })
            for process in processes { process.stop() }
        }
    }

    @Test func aStoreThatGoesAwayGets503AndComesBackWithoutARestart() async throws {
        let cluster = try OwnPostgres()
        let dir = try scratchDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(relay: try postgresStore(cluster.configuration, passwordIn: dir))
        defer { relay.stop() }
        let client = RelayClient(baseURL: relay.url)
        let box = try await TestMailbox.make(client)
        let before = envelopeBytes(), during = envelopeBytes(), after = envelopeBytes()
        _ = try await client.drop(DropRequest(targets: [box.target], envelope: before))

        try cluster.stop()
        let refused = await #expect(throws: RelayClient.Failure.self) {
            try await client.drop(DropRequest(targets: [box.target], envelope: during))
        }
        #expect(refused?.status == 503 && refused?.code == "store_unavailable" && refused?.retryAfter == 5)
        let ready = try RawConnection(port: relay.port)
        try await ready.send("GET", "/readyz", headers: [("Connection", "close")])
        #expect(try await ready.readStatus() == 503)
        #expect(relay.process.isRunning)

        try cluster.start()
        var accepted = false
        for _ in 0..<240 where !accepted {
            accepted = (try? await client.drop(DropRequest(targets: [box.target], envelope: after))) != nil
            if !accepted { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(accepted, "the relay did not recover")
        let stored = try await RelayCrashTests.drain(client, box)
        #expect(Set(stored) == [before, after] && stored.count == 2)
    }

    @Test func aRelayWhoseStoreIsNotThereExitsWithAClearError() async throws {
        let home = try scratchDirectory("relay")
        defer { try? FileManager.default.removeItem(atPath: home) }
        func relay(_ arguments: [String], env: [String: String] = ["KITH_RELAY_STORE_PASSWORD": "kith-test"]) throws -> (status: Int32, stderr: String) {
            let result = try runProgram(RelayProcess.binary, ["relay", "--home", home, "--listen", "127.0.0.1:0", "--log-level", "error"] + arguments, env: env)
            return (result.status, result.stderr)
        }
        let port = try freePort()
        let nobody = try relay(["--store", "postgres://kith@127.0.0.1:\(port)/kith"])
        #expect(nobody.status != 0 && nobody.stderr.contains("cannot open the relay's store") && nobody.stderr.contains("127.0.0.1:\(port)"), "\(nobody.stderr)")

        let cluster = try TestPostgres.configuration()
        let server = "postgres://\(cluster.user)@\(cluster.host):\(cluster.port)/"
        let wrong = try relay(["--store", server + cluster.database], env: ["KITH_RELAY_STORE_PASSWORD": "not the password"])
        #expect(wrong.status != 0 && wrong.stderr.contains("authentication failed"), "\(wrong.stderr)")
        let absent = try relay(["--store", server + "kith_no_such_database"], env: ["KITH_RELAY_STORE_PASSWORD": cluster.password ?? ""])
        #expect(absent.status != 0 && absent.stderr.contains("does not exist"), "\(absent.stderr)")

        // Mistakes in the URL or the password's file, before anything is opened.
        let inURL = try relay(["--store", "postgres://kith:hunter2@127.0.0.1:\(port)/kith"])
        #expect(inURL.status != 0 && inURL.stderr.contains("must not hold a password") && !inURL.stderr.contains("hunter2"))
        let open = home + "/password"
        FileManager.default.createFile(atPath: open, contents: Data("kith-test".utf8), attributes: [.posixPermissions: 0o644])
        let readable = try relay(["--store", server + cluster.database, "--store-password-file", open], env: [:])
        #expect(readable.status != 0 && readable.stderr.contains("chmod 600"))
        #expect(try relay(["--store", "mysql://kith@h/db"]).stderr.contains("unknown store \"mysql\""))

        // The flag over KITH_RELAY_STORE over relay.store: `relay status` names the SQLite file it was given.
        let config = home + "/config.json"
        try JSONSerialization.data(withJSONObject: ["relay": ["home": home, "store": "sqlite:from-file.sqlite"]]).write(to: URL(fileURLWithPath: config))
        func status(_ arguments: [String], env: [String: String]) throws -> String {
            try runProgram(RelayProcess.binary, ["relay", "status", "--config", config] + arguments, env: env).stderr
        }
        #expect(try status([], env: [:]).contains("from-file.sqlite holds no relay"))
        #expect(try status([], env: ["KITH_RELAY_STORE": "sqlite:from-env.sqlite"]).contains("from-env.sqlite holds no relay"))
        #expect(try status(["--store", "sqlite:from-flag.sqlite"], env: ["KITH_RELAY_STORE": "sqlite:from-env.sqlite"]).contains("from-flag.sqlite holds no relay"))
    }
}
