import AsyncHTTPClient
import Foundation
import GRDBSQLite
import KithCrypto
import KithNode
import KithProtocol
import KithRelay
import NIOCore
import NIOHTTP1

/// An attachment's blob through the real relay: one upload for an audience
/// of 150, its speed beside the floor of writing the same bytes with the
/// SQLite C API, and what the relay's database grew by beside the blob's
/// size (once, not 150 times).
enum BlobBench {
    static let blobBytes = 10_000_000

    static func upload(audience: Int = CryptoBench.audienceSize) async throws -> [BenchCase] {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try await BenchRelay.start(directory: dir)
        let boxes = try await RelayBench.mailboxes(audience, on: RelayClient(baseURL: relay.url))
        // Ciphertext is indistinguishable from random bytes, and the relay never decrypts.
        let blob = randomBytes(blobBytes)
        let body = BlobUpload.header(targets: DropRequest.Targets(boxes.map(\.target))) + blob
        let before = try await relay.store.databaseBytes()
        var request = HTTPClientRequest(url: relay.url + "/v1/blobs")
        request.method = .POST
        request.body = .bytes(ByteBuffer(bytes: body))
        let start = ContinuousClock.now
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(300))
        let answer = try await response.body.collect(upTo: 1 << 20)
        let seconds = (ContinuousClock.now - start).seconds
        guard response.status == .ok, let result = try? JSONDecoder().decode(DropResult.self, from: Data(answer.readableBytesView)),
              result.accepted == boxes.count else {
            throw BenchError("the blob upload was not accepted for every mailbox: HTTP \(response.status.code)")
        }
        let grown = try await relay.store.databaseBytes() - before
        await relay.stop()
        let floor = try writeFloor(directory: dir, blob: blob, references: boxes.count)
        let megabytes = Double(blob.count) / 1_000_000
        return [
            BenchCase(name: "blob upload: 10 MB to 150", unit: "MB/s", ours: megabytes / seconds, floor: megabytes / floor, target: 0.3,
                      note: "one HTTP upload, hashed and stored by the relay; floor: the same bytes and 150 references written with the C API in one transaction"),
            BenchCase(name: "blob stored once: 10 MB to 150", unit: "B", ours: Double(blob.count), floor: Double(max(grown, 1)), target: 0.9,
                      note: "kith: the blob's bytes; floor: what the relay's database grew by for it, named for \(boxes.count) mailboxes (150 copies would be 0.0067)"),
        ]
    }

    /// Seconds to write the blob and its references straight through the
    /// SQLite C API, in the relay's settings, in one transaction.
    static func writeFloor(directory: String, blob: [UInt8], references: Int) throws -> Double {
        let floor = try SQLiteFloor(path: directory + "/floor-blob.sqlite", schema: """
            CREATE TABLE blob (id BLOB PRIMARY KEY NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL, created_at INTEGER NOT NULL);
            CREATE TABLE blob_ref (mailbox BLOB NOT NULL, blob BLOB NOT NULL, received_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
                PRIMARY KEY (mailbox, blob)) WITHOUT ROWID;
            """)
        let id = randomBytes(32), mailboxes = (0..<references).map { _ in randomBytes(32) }
        let insertBlob = try floor.prepare("INSERT INTO blob (id, size, data, created_at) VALUES (?, ?, ?, ?)")
        let insertReference = try floor.prepare("INSERT INTO blob_ref (mailbox, blob, received_at, expires_at) VALUES (?, ?, ?, ?)")
        defer { sqlite3_finalize(insertBlob); sqlite3_finalize(insertReference) }
        return try Measure.seconds {
            try floor.exec("BEGIN IMMEDIATE")
            try floor.run(insertBlob, [id, blob.count, blob, 1])
            for m in mailboxes { try floor.run(insertReference, [m, id, 1, 2]) }
            try floor.exec("COMMIT")
        }
    }
}
