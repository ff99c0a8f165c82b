import Foundation
import Testing

/// `kith bench --quick` runs every case and writes a complete report. This
/// proves the bench works; it judges no speed (figures vary by machine).
@Suite struct BenchTests {
    @Test func quickBenchReportsEveryCaseBesideItsFloor() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/bench.json"
        // The bench runs for a while: wait for it on a thread of its own, not
        // on one of the few that run every test's tasks and in-process relays.
        let r = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try kith(["bench", "--quick", "--json", file]) }) }
        }
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("kith: bench: sync"), "progress is shown")

        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
        let cases = report["cases"] as! [[String: Any]]
        #expect(cases.count == 12)
        for c in cases {
            let ours = c["ours"] as! Double, floor = c["floor"] as! Double, ratio = c["ratio"] as! Double
            #expect(ours > 0 && floor > 0, "\(c["name"]!)")
            #expect(abs(ratio - ours / floor) < 1e-9)
            #expect(r.stdout.contains(c["name"] as! String))
        }
        // The web case: the feed's first page, whole and by author, each timed against its 50 ms limit.
        let web = cases.filter { ($0["name"] as! String).hasPrefix("web feed page") }
        #expect(web.map { $0["name"] as! String } == ["web feed page, 300 posts", "web feed page, one author, 300 posts"])
        for c in web { #expect((c["seconds"] as! Double) > 0 && c["seconds_limit"] as? Double == 0.05) }
        let bytes = report["bytes"] as! [[String: Any]]
        #expect(bytes.map { $0["recipients"] as! Int } == [10, 150, 1000])
        for b in bytes {
            let n = b["recipients"] as! Int, upload = b["kithUpload"] as! Int, envelope = b["envelope"] as! Int
            // Uploaded once per relay: the envelope, a 7-byte frame and 64 bytes per recipient.
            #expect(upload == envelope + 7 + 64 * n)
            #expect((b["nip17"] as! Int) > upload)
        }
        let memory = report["memory"] as! [[String: Any]]
        let push = report["push"] as! [String: Any]
        #expect(push["drops"] as? Int == 20 && (push["p50_ms"] as! Double) > 0 && (push["p99_ms"] as! Double) >= (push["p50_ms"] as! Double))
        #expect(r.stdout.contains("drop to notification"))
        #expect(memory.count == 3)
        for m in memory { #expect((m["peak_mib"] as! Double) >= (m["resident_mib"] as! Double)) }
    }

    /// The postgres case: relays on the test server (`make test` runs the
    /// CLI tests beside one) beside a SQLite relay, each figure positive, in
    /// a database the bench makes and drops.
    @Test func postgresCaseMeasuresRelaysOnTheServerBesideSQLite() async throws {
        let environment = ProcessInfo.processInfo.environment
        let url = try #require(environment["KITH_TEST_POSTGRES"], "KITH_TEST_POSTGRES is not set: run the tests through `make test` or scripts/with-postgres.sh")
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/bench.json"
        let env = ["KITH_RELAY_STORE_PASSWORD": environment["KITH_TEST_POSTGRES_PASSWORD"] ?? ""]
        let r = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try kith(["bench", "--quick", "--only", "postgres", "--postgres", url, "--json", file], env: env) })
            }
        }
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
        let cases = report["cases"] as! [[String: Any]]
        #expect(cases.map { $0["name"] as! String } == ["postgres ingest, 1 process", "postgres fan-out, 1 process", "postgres ingest, 2 processes",
                                                          "postgres fan-out, 2 processes", "postgres ingest, 20,000 stored", "postgres fetch, 20,000 stored"])
        for c in cases {
            #expect((c["ours"] as! Double) > 0 && (c["floor"] as! Double) > 0, "\(c["name"]!)")
        }
        #expect(cases.prefix(4).allSatisfy { $0["target"] is NSNull && $0["met"] as? Bool == true }, "measured, not judged")
        let memory = report["memory"] as! [[String: Any]]
        #expect(memory.count == 1 && (memory[0]["peak_mib"] as! Double) > 0)
        // The bench's databases are gone: a wrong password now fails at the start, naming the server.
        let refused = try kith(["bench", "--quick", "--only", "postgres", "--postgres", url], env: ["KITH_RELAY_STORE_PASSWORD": "not-the-password"])
        #expect(refused.status != 0 && refused.stderr.contains("PostgreSQL"), "\(refused.stderr)")
    }

    /// `--only` runs the named cases and no other; an unknown name is refused.
    @Test func onlyRunsTheNamedCases() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/bench.json"
        let r = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try kith(["bench", "--quick", "--only", "bytes", "--json", file]) }) }
        }
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("kith: bench: bytes") && !r.stderr.contains("kith: bench: seal"))
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
        #expect((report["cases"] as! [[String: Any]]).isEmpty)
        #expect((report["bytes"] as! [[String: Any]]).map { $0["recipients"] as! Int } == [10, 150, 1000])
        #expect((report["memory"] as! [[String: Any]]).isEmpty)
        #expect(report["push"] == nil)

        let postgres = try kith(["bench", "--quick", "--only", "postgres"])
        #expect(postgres.status != 0 && postgres.stderr.contains("--postgres postgres://"), "\(postgres.stderr)")

        let unknown = try kith(["bench", "--quick", "--only", "nosuch"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("nosuch"), "\(unknown.stderr)")
    }
}
