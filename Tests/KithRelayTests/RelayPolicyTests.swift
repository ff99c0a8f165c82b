import Foundation
import HTTPTypes
import HummingbirdTesting
import KithCrypto
import KithNode
import KithProtocol
@testable import KithRelay
import NIOCore
import Testing

/// Signed owner-request headers as HTTP fields.
func signedFields(_ method: String, _ path: String, body: [UInt8] = [], key: SigningKey) -> HTTPFields {
    var fields = HTTPFields()
    for (name, value) in signedHeaders(method, path, key: key, body: body) { fields[HTTPField.Name(name)!] = value }
    return fields
}

/// The relay's policy from its config file: every key read and checked.
@Suite struct RelayConfigurationTests {
    static func configuration(_ relay: [String: any Sendable]) throws -> RelayConfiguration {
        let path = NSTemporaryDirectory() + "kith-config-" + UUID().uuidString.prefix(8) + ".json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try JSONSerialization.data(withJSONObject: ["relay": relay]).write(to: URL(fileURLWithPath: path))
        return try RelayConfiguration(file: RelayFileConfiguration.load(path: path))
    }

    /// The error for this `relay` section, or nil if it is accepted.
    static func error(_ relay: [String: any Sendable]) -> String? {
        do { _ = try configuration(relay); return nil } catch { return String(describing: error) }
    }

    @Test func defaults() throws {
        let c = try Self.configuration([:])
        #expect(c.registration == .open)
        #expect(c.ttlSeconds == 30 * 86_400)
        #expect(c.quota == MailboxQuota(bytes: 128 << 20, envelopes: 10_000))
        #expect(c.tokenRate == RateLimit(perSecond: 1, burst: 200))
        #expect(c.addressRate == RateLimit(perSecond: 20, burst: 2000))
        #expect(c.maxMailboxes == 1000)
        #expect(c.maxEnvelopeBytes == Envelope.maxLength && c.fetchLimit == 500)
        #expect(c.waitSeconds == 25 && c.maxWaitersPerMailbox == 4 && c.maxWaiters == 4096)
        #expect(c.maxBlobBytes == 41_943_040 && c.maxBlobUploads == 4)
        #expect(c.maxBlobUploadBytes == 41_943_040 + 3 + 64_000)
    }

    @Test func everyKeyIsRead() throws {
        let key = SigningKey().publicKey
        let c = try Self.configuration([
            "registration": "allowlist", "allowed_mailboxes": [Base64URL.encode(key)], "max_mailboxes": 5,
            "quota_bytes": 2_000_000, "quota_envelopes": 7, "ttl_days": 3,
            "drop_rate_per_token": 0.5, "drop_burst_per_token": 4, "drop_rate_per_address": 3, "drop_burst_per_address": 9,
            "wait_seconds": 10, "max_waiters_per_mailbox": 2, "max_waiters": 100,
            "max_blob_bytes": 1_000_000, "max_blob_uploads": 9, "quota_blob_bytes": 3_000_000, "quota_blobs": 11,
        ])
        #expect(c.maxBlobBytes == 1_000_000 && c.maxBlobUploads == 9)
        #expect(c.waitSeconds == 10 && c.maxWaitersPerMailbox == 2 && c.maxWaiters == 100)
        #expect(c.registration == .allowlist([key]))
        #expect(c.maxMailboxes == 5 && c.quota == MailboxQuota(bytes: 2_000_000, envelopes: 7, blobBytes: 3_000_000, blobs: 11) && c.ttlSeconds == 3 * 86_400)
        #expect(c.tokenRate == RateLimit(perSecond: 0.5, burst: 4) && c.addressRate == RateLimit(perSecond: 3, burst: 9))
        #expect(try Self.configuration(["registration": "invite"]).registration == .invite)
    }

    @Test func impossibleValuesAreErrorsNamingTheKey() {
        let cases: [([String: any Sendable], String)] = [
            (["registration": "closed"], "relay.registration"),
            (["registration": "allowlist"], "relay.allowed_mailboxes"),
            (["registration": "allowlist", "allowed_mailboxes": [String]()], "relay.allowed_mailboxes"),
            (["registration": "allowlist", "allowed_mailboxes": ["not a key"]], "relay.allowed_mailboxes[0]"),
            (["registration": "open", "allowed_mailboxes": [Base64URL.encode(SigningKey().publicKey)]], "relay.allowed_mailboxes"),
            (["max_mailboxes": 0], "relay.max_mailboxes"),
            (["quota_bytes": -1], "relay.quota_bytes"),
            (["quota_bytes": 1000], "relay.quota_bytes"),
            (["quota_envelopes": 0], "relay.quota_envelopes"),
            (["drop_rate_per_token": 0], "relay.drop_rate_per_token"),
            (["drop_rate_per_address": -2.5], "relay.drop_rate_per_address"),
            (["drop_burst_per_token": 0], "relay.drop_burst_per_token"),
            (["drop_burst_per_address": -1], "relay.drop_burst_per_address"),
            (["ttl_days": 0], "relay.ttl_days"),
            (["ttl_days": 5000], "relay.ttl_days"),
            (["max_envelope_bytes": 10], "relay.max_envelope_bytes"),
            (["fetch_limit": 0], "relay.fetch_limit"),
            (["wait_seconds": 0], "relay.wait_seconds"),
            (["wait_seconds": 29], "relay.wait_seconds"),
            (["wait_seconds": 2.5], "relay.wait_seconds"),
            (["max_waiters_per_mailbox": 0], "relay.max_waiters_per_mailbox"),
            (["max_waiters_per_mailbox": 65], "relay.max_waiters_per_mailbox"),
            (["max_waiters": 0], "relay.max_waiters"),
            (["max_waiters": 1_000_001], "relay.max_waiters"),
            (["max_waiters": "many"], "relay.max_waiters"),
            (["quota_envelopes": "many"], "relay.quota_envelopes"),
            (["quota_envelopes": 1.5], "relay.quota_envelopes"),
            (["registration": 1], "relay.registration"),
            (["quota": 1], "relay.quota"),
            (["max_blob_bytes": 65_535], "relay.max_blob_bytes"),
            (["max_blob_bytes": 268_435_457], "relay.max_blob_bytes"),
            (["max_blob_bytes": 1.5], "relay.max_blob_bytes"),
            (["max_blob_uploads": 0], "relay.max_blob_uploads"),
            (["max_blob_uploads": 1001], "relay.max_blob_uploads"),
            (["quota_blob_bytes": 41_943_039], "relay.quota_blob_bytes"),
            (["max_blob_bytes": 1_000_000, "quota_blob_bytes": 999_999], "relay.quota_blob_bytes"),
            (["quota_blob_bytes": 2.5], "relay.quota_blob_bytes"),
            (["quota_blobs": 0], "relay.quota_blobs"),
            (["quota_blobs": 100_001], "relay.quota_blobs"),
            (["quota_blobs": "many"], "relay.quota_blobs"),
        ]
        for (relay, key) in cases {
            let error = Self.error(relay)
            #expect(error?.contains(key) == true, "\(relay): \(error ?? "accepted")")
        }
    }

    /// A relay given an impossible value says so and does not start.
    @Test func theRelayDoesNotStartWithAnImpossibleValue() throws {
        let dir = NSTemporaryDirectory() + "kith-relay-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/config.json"
        try Data(#"{"relay": {"home": "\#(dir)/r", "listen": "127.0.0.1:0", "quota_envelopes": 0}}"#.utf8).write(to: URL(fileURLWithPath: config))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: RelayProcess.binary)
        process.arguments = ["relay", "--config", config]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        #expect(text == "kith: error: relay.quota_envelopes must be at least 1, not 0\n")
        #expect(!FileManager.default.fileExists(atPath: dir + "/r"))
    }
}

/// Registration by invitation, by allow-list, and the relay's room for mailboxes.
@Suite struct RegistrationTests {
    static func refusal(_ operation: () async throws -> Void) async -> RelayClient.Failure? {
        do { try await operation(); return nil } catch let failure as RelayClient.Failure { return failure } catch { return nil }
    }

    @Test func invitesAreOneTimeCodes() async throws {
        let store = try SQLiteRelayStore()
        var configuration = RelayConfiguration()
        configuration.registration = .invite
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            let missing = await Self.refusal { try await relay.register(mailboxKey: SigningKey()) }
            #expect(missing?.status == 403 && missing?.code == "invite_required" && missing?.permanent == true)
            let unknown = await Self.refusal { try await relay.register(mailboxKey: SigningKey(), invite: RelayInvite()) }
            #expect(unknown?.status == 403 && unknown?.code == "invite_unknown")
            #expect(unknown?.reason == "unknown invite code")

            let invite = RelayInvite()
            try await store.addInvite(invite, now: 1)
            let alice = SigningKey()
            try await relay.register(mailboxKey: alice, invite: try RelayInvite(text: invite.text))
            let reused = await Self.refusal { try await relay.register(mailboxKey: SigningKey(), invite: invite) }
            #expect(reused?.status == 403 && reused?.code == "invite_used")
            #expect(reused?.hint != nil)
            // Registering again is idempotent, and needs no code.
            try await relay.register(mailboxKey: alice)
            #expect(try await store.counts().mailboxes == 1)
            #expect(try await store.unusedInvites() == 0)
        }
    }

    /// Two registrations racing for one code: exactly one gets the mailbox.
    @Test func aCodeIsConsumedOnce() async throws {
        let store = try SQLiteRelayStore()
        let invite = RelayInvite()
        try await store.addInvite(invite, now: 1)
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    do { return try await store.register(mailbox: SigningKey().publicKey, now: 2, policy: .invite, invite: invite, maxMailboxes: 100) } catch RegistrationRefusal.inviteUsed {
                        return false
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 1)
        #expect(try await store.counts().mailboxes == 1)
    }

    @Test func openAndAllowListPoliciesIgnoreInvites() async throws {
        let listed = SigningKey()
        var configuration = RelayConfiguration()
        configuration.registration = .allowlist([listed.publicKey])
        try await withLiveRelay(configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            let refused = await Self.refusal { try await relay.register(mailboxKey: SigningKey(), invite: RelayInvite()) }
            #expect(refused?.status == 403 && refused?.code == "not_allowed")
            try await relay.register(mailboxKey: listed, invite: RelayInvite())
        }
        try await withLiveRelay { url, _ in
            try await RelayClient(baseURL: url).register(mailboxKey: SigningKey(), invite: RelayInvite())
        }
    }

    @Test func aFullRelayRefusesNewMailboxes() async throws {
        let store = try SQLiteRelayStore()
        var configuration = RelayConfiguration()
        configuration.maxMailboxes = 2
        configuration.registration = .invite
        try await withLiveRelay(store: store, configuration: configuration) { url, client in
            let relay = RelayClient(baseURL: url)
            let first = SigningKey()
            for key in [first, SigningKey()] {
                let invite = RelayInvite()
                try await store.addInvite(invite, now: 1)
                try await relay.register(mailboxKey: key, invite: invite)
            }
            let invite = RelayInvite()
            try await store.addInvite(invite, now: 1)
            let full = await Self.refusal { try await relay.register(mailboxKey: SigningKey(), invite: invite) }
            #expect(full?.status == 507 && full?.code == "relay_full" && full?.permanent == false)
            // The code was not used up by the refusal; existing mailboxes still register.
            #expect(try await store.unusedInvites() == 1)
            try await relay.register(mailboxKey: first)
            // A body that is not an invite code is malformed.
            let key = SigningKey()
            let path = "/v1/mailboxes/\(Base64URL.encode(key.publicKey))"
            let body: [UInt8] = [1, 2, 3]
            let answer = try await client.execute(uri: path, method: .put, headers: signedFields("PUT", path, body: body, key: key),
                                                  body: ByteBuffer(bytes: body))
            #expect(answer.status == .badRequest)
        }
    }
}
