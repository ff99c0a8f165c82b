import Foundation
import Testing

/// `kith status`, with and without a daemon.
@Suite(.serialized) struct StatusTests {
    func status(_ home: String, passphrase: String? = "test passphrase") throws -> [String: Any] {
        try jsonObject(try kithOK(["status", "--home", home, "--json"], passphrase: passphrase))
    }

    func node(_ status: [String: Any]) throws -> [String: Any] { try #require(status["node"] as? [String: Any]) }

    @Test(.timeLimit(.minutes(5))) func statusShowsRelaysQueuesWaitingEnvelopesUnreadPostsAndRotation() async throws {
        try await withAliceAndBob { dir, relay, alice, bob in
            try kithOK(["post", "--home", alice, "--to", "family", "first"])
            try kithOK(["sync", "--home", alice])
            try kithOK(["sync", "--home", bob])

            // bob: one unread post until `kith feed` shows it; the relay synced, no error.
            var shown = try node(try status(bob))
            #expect(shown["name"] as? String == "bob" && (shown["fingerprint"] as? String)?.isEmpty == false)
            #expect(shown["unread"] as? Int == 1)
            let relays = try #require(shown["relays"] as? [[String: Any]])
            #expect(relays.count == 1 && relays[0]["relay"] as? String == relay.url && relays[0]["mine"] as? Bool == true)
            #expect(relays[0]["last_success_at"] is Int && relays[0]["last_error"] == nil)
            let rotation = try #require(shown["rotation"] as? [String: Any])
            #expect(rotation["every_days"] as? Int == 7 && rotation["grace_days"] as? Int == 14)
            #expect(try #require(rotation["next_at"] as? Int) > (try #require(rotation["last_at"] as? Int)))
            _ = try feed(bob)
            #expect(try node(try status(bob))["unread"] as? Int == 0)

            // carol, whom bob has not added, sends bob an audience key: it waits, and says why.
            let carol = dir + "/carol"
            try kithOK(["init", "--home", carol, "--name", "carol", "--relay", relay.url])
            try kithOK(["friend", "add", "--home", carol, try kithOK(["card", "--home", bob])])
            try kithOK(["group", "create", "--home", carol, "club", "--hide-members"])
            try kithOK(["group", "add", "--home", carol, "club", "bob"])
            try kithOK(["sync", "--home", carol])
            try kithOK(["sync", "--home", bob])
            shown = try node(try status(bob))
            let pending = try #require(shown["pending"] as? [[String: Any]])
            #expect(pending.count == 1 && pending[0]["count"] as? Int == 1, "\(pending)")
            #expect((pending[0]["reason"] as? String)?.contains("not a friend") == true, "\(pending)")

            // The relay goes down: alice's post waits for bob, with the relay's error and the next attempt.
            let port = relay.port
            relay.stop()
            try kithOK(["post", "--home", alice, "--to", "family", "second"])
            #expect(try kith(["sync", "--home", alice]).status == 1)
            shown = try node(try status(alice))
            let queued = try #require(shown["queued"] as? [[String: Any]])
            #expect(queued.count == 1 && queued[0]["friend"] as? String == "bob" && queued[0]["count"] as? Int == 1, "\(queued)")
            #expect(queued[0]["next_attempt_at"] is Int && (queued[0]["last_error"] as? String)?.isEmpty == false, "\(queued)")
            let down = try #require((shown["relays"] as? [[String: Any]])?.first)
            #expect(down["last_error"] is String && down["last_error_at"] is Int && down["last_success_at"] is Int, "\(down)")
            #expect((shown["outbox"] as? [String: Any])?["queued"] as? Int == 1)
            let text = try kithOK(["status", "--home", alice])
            #expect(text.contains("queued     1 delivery for bob on \(relay.url)") && text.contains("last error"), "\(text)")

            // Through the daemon: the same node status, no passphrase, and the daemon's own.
            let restarted = try RelayProcess(home: dir + "/relay", port: port)
            defer { restarted.stop() }
            let daemon = try DaemonProcess(home: alice)
            #expect(try eventually(60) { (try node(try status(alice, passphrase: nil))["queued"] as? [Any])?.isEmpty == true })
            let through = try status(alice, passphrase: nil)
            let own = try #require(through["daemon"] as? [String: Any])
            #expect(own["pid"] as? Int == Int(daemon.process.processIdentifier) && own["sync_interval"] as? Int == 5)
            #expect(try node(through)["name"] as? String == "alice")
            #expect(daemon.stop() == 0)
            #expect(try status(alice)["daemon"] is NSNull)
        }
    }

    /// A relay's error reaches `kith status` with nothing a terminal would act on.
    @Test(.timeLimit(.minutes(3)), .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/env")))
    func aRelaysErrorIsShownEscaped() async throws {
        try await withAliceAndBob { _, relay, alice, _ in
            let port = relay.port
            relay.stop()
            // In the relay's place, a server that answers everything with a hostile error.
            let script = """
                import http.server, json, sys
                class H(http.server.BaseHTTPRequestHandler):
                    def answer(self):
                        self.rfile.read(int(self.headers.get("Content-Length") or 0))
                        body = json.dumps({"error": {"code": "busy", "message": "\\x1b]0;pwned\\x07\\x1b[31m \\u202eevil\\u2028line"}}).encode()
                        self.send_response(503)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                    do_GET = do_POST = do_PUT = do_DELETE = answer
                    def log_message(self, *args): pass
                http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
                """
            let hostile = Process()
            hostile.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            hostile.arguments = ["python3", "-c", script, String(port)]
            hostile.standardOutput = FileHandle.nullDevice
            hostile.standardError = FileHandle.nullDevice
            try hostile.run()
            // SIGKILL: the test runner's blocked signals are inherited, SIGTERM among them.
            defer { kill(hostile.processIdentifier, SIGKILL); hostile.waitUntilExit() }
            Thread.sleep(forTimeInterval: 1)
            #expect(try kith(["sync", "--home", alice]).status == 1)
            let shown = try kith(["status", "--home", alice])
            #expect(shown.status == 0 && shown.stdout.contains("pwned"), "\(shown.stdout) \(shown.stderr)")
            #expect(!shown.stdout.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x202E || $0.value == 0x2028 },
                    "\(shown.stdout.debugDescription)")
            let relays = try node(try status(alice))["relays"] as? [[String: Any]]
            let error = try #require(relays?.first?["last_error"] as? String)
            #expect(error.contains("pwned"), "\(error)")
        }
    }
}
