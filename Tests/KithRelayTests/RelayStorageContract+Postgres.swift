import Foundation
import KithCrypto
import KithProtocol
import KithRelay
import KithRelayPostgres
import Logging
import Testing

/// What several relay processes sharing one PostgreSQL store rely on. Two
/// `PostgresRelayStore`s open on one database stand for two processes: each
/// has its own connections, and they share nothing but the server.
extension RelayStorageContract {
    /// Two stores open on one fresh database.
    static func withTwoStores(_ body: (PostgresRelayStore, PostgresRelayStore) async throws -> Void) async throws {
        let (configuration, drop) = try await TestPostgres.freshDatabase()
        let logger = Logger(label: "kith-test-store")
        var opened: [PostgresRelayStore] = []
        do {
            opened.append(try await PostgresRelayStore.open(configuration, logger: logger))
            opened.append(try await PostgresRelayStore.open(configuration, logger: logger))
            try await body(opened[0], opened[1])
        } catch {
            for store in opened { await store.close() }
            await drop()
            throw error
        }
        for store in opened { await store.close() }
        await drop()
    }

    @Test func aDropThroughOneProcessIsFetchedAndAcknowledgedThroughAnother() async throws {
        try await Self.withTwoStores { one, other in
            let bob = try await Box.make(one)
            #expect(try await other.mailboxExists(bob.id))
            let env = envelopeBytes()
            #expect(try await one.drop(DropRequest(targets: [bob.target], envelope: env), now: 1, ttl: 100).accepted == 1)
            #expect(try await other.fetch(mailbox: bob.id, limit: 10).items.map(\.envelope) == [env])
            #expect(try await other.acknowledge(mailbox: bob.id, ids: [Envelope.id(of: env)]) == 1)
            #expect(try await one.fetch(mailbox: bob.id, limit: 10).items.isEmpty)
            #expect(try await one.counts() == RelayCounts(mailboxes: 1, bodies: 0, deliveries: 0, bodyBytes: 0))
            // A token revoked through one no longer opens the mailbox through the other.
            #expect(try await other.removeToken(hash: DropToken.hash(bob.token), mailbox: bob.id))
            #expect(try await one.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes()), now: 2, ttl: 100).accepted == 0)
        }
    }

    @Test func aNonceUsedInOneProcessIsRefusedInAnother() async throws {
        try await Self.withTwoStores { one, other in
            let bob = try await Box.make(one)
            let nonce = randomBytes(16)
            #expect(try await one.useNonce(mailbox: bob.id, nonce: nonce, expiresAt: 100))
            #expect(try await !other.useNonce(mailbox: bob.id, nonce: nonce, expiresAt: 100))
            // Both at once with a new one: exactly one wins.
            let raced = randomBytes(16)
            async let first = one.useNonce(mailbox: bob.id, nonce: raced, expiresAt: 100)
            async let second = other.useNonce(mailbox: bob.id, nonce: raced, expiresAt: 100)
            #expect(try await [first, second].filter { $0 }.count == 1)
        }
    }

    /// Drops into one mailbox through two processes at once get distinct,
    /// strictly increasing sequence numbers, none lost; and a reader that
    /// follows the mailbox meanwhile (fetching after the last number it
    /// saw) misses none: it never sees a number before a smaller one has
    /// committed. The quota holds across both processes too.
    @Test func concurrentDropsThroughTwoProcessesGetIncreasingSequences() async throws {
        try await Self.withTwoStores { one, other in
            let bob = try await Box.make(one), carol = try await Box.make(one)
            let envelopes = (0..<20).map { _ in envelopeBytes() }
            let quota = MailboxQuota(bytes: 1 << 30, envelopes: 7)
            let followed = try await withThrowingTaskGroup(of: [[UInt8]].self) { group in
                for (i, env) in envelopes.enumerated() {
                    group.addTask {
                        let store = i % 2 == 0 ? one : other
                        _ = try await store.drop(DropRequest(targets: [bob.target], envelope: env), now: 1, ttl: 100)
                        do {
                            _ = try await store.drop(DropRequest(targets: [carol.target], envelope: env), now: 1, ttl: 100, quota: quota)
                        } catch is MailboxFull {}
                        return []
                    }
                }
                group.addTask {
                    // Bounded, so that a number skipped fails the test rather than hanging it.
                    var seen: [[UInt8]] = [], after: UInt64 = 0
                    for _ in 0..<3000 where seen.count < envelopes.count {
                        let batch = try await other.fetch(mailbox: bob.id, after: after, limit: 100)
                        seen += batch.items.map(\.envelope)
                        after = batch.items.last?.sequence ?? after
                        if batch.items.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
                    }
                    return seen
                }
                return try await group.reduce(into: [[UInt8]]()) { $0 += $1 }
            }
            #expect(Set(followed) == Set(envelopes) && followed.count == envelopes.count)
            let all = try await one.fetch(mailbox: bob.id, limit: 100).items
            #expect(all.count == 20)
            #expect(zip(all, all.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
            #expect(Set(all.map(\.envelope)) == Set(envelopes))
            #expect(try await other.usage(of: carol.id)!.envelopes == 7)
            #expect(try await one.fetch(mailbox: carol.id, limit: 100).items.count == 7)
        }
    }

    /// One envelope dropped to two mailboxes, acknowledged by both at once
    /// through two processes; one blob stored for two mailboxes, released by
    /// both at once: each time the last one out deletes the body or the
    /// blob, so that nothing is left behind once every reference is gone.
    @Test func concurrentAcknowledgementsAndReleasesLeaveNoBodyOrBlob() async throws {
        try await Self.withTwoStores { one, other in
            let bob = try await Box.make(one), carol = try await Box.make(one)
            for round in 0..<50 {
                let env = envelopeBytes()
                #expect(try await one.drop(DropRequest(targets: [bob.target, carol.target], envelope: env), now: 1, ttl: 100).accepted == 2)
                async let first = one.acknowledge(mailbox: bob.id, ids: [Envelope.id(of: env)])
                async let second = other.acknowledge(mailbox: carol.id, ids: [Envelope.id(of: env)])
                #expect(try await [first, second] == [1, 1])
                let blob = randomBytes(100 + round)
                _ = try await one.storeBlob(blob[...], for: [bob.target, carol.target], now: 1, ttl: 100, quota: nil)
                let id = Hash.blake2b(blob)
                async let released = one.releaseBlob(id: id, mailbox: bob.id)
                async let releasedToo = other.releaseBlob(id: id, mailbox: carol.id)
                #expect(try await [released, releasedToo] == [true, true])
            }
            let counts = try await one.counts()
            #expect(counts.bodies == 0 && counts.bodyBytes == 0 && counts.deliveries == 0)
            #expect(counts.blobs == 0 && counts.blobBytes == 0)
        }
    }

    @Test func processesOpeningAFreshDatabaseAtOnceMigrateOnce() async throws {
        let (configuration, drop) = try await TestPostgres.freshDatabase()
        let logger = Logger(label: "kith-test-store")
        let opened = await withTaskGroup(of: Result<PostgresRelayStore, any Error>.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    do { return .success(try await PostgresRelayStore.open(configuration, logger: logger)) } catch { return .failure(error) }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let stores = opened.compactMap { try? $0.get() }
        #expect(stores.count == 4, "every open succeeds: \(opened.compactMap { if case .failure(let e) = $0 { String(reflecting: e) } else { nil } })")
        if let store = stores.first {
            #expect(try await store.appliedMigrations() == ["v1-relay-store"])
            #expect(try await store.register(mailbox: randomBytes(32), now: 1))
            #expect(try await stores.last!.counts().mailboxes == 1)
        }
        for store in stores { await store.close() }
        await drop()
    }

    /// A drop through one process shows in the other's `arrivals` (from
    /// `LISTEN`). The listener connects in the background after `open`, so
    /// drops go on until one is heard; a minute without any fails the test.
    @Test func arrivalsHearOfDropsThroughAnotherProcess() async throws {
        try await Self.withTwoStores { one, other in
            let bob = try await Box.make(one)
            #expect(try await Self.hears(try #require(other.arrivals), of: bob, droppingThrough: one, tries: 120))
        }
    }

    /// Whether `arrivals` names `box` while drops into it go through
    /// `store`, one every half second, at most `tries` of them.
    static func hears(_ arrivals: AsyncStream<[UInt8]>, of box: Box, droppingThrough store: PostgresRelayStore, tries: Int) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await mailbox in arrivals where mailbox == box.id { return true }
                return false
            }
            group.addTask {
                for _ in 0..<tries {
                    _ = try await store.drop(DropRequest(targets: [box.target], envelope: envelopeBytes()), now: 1, ttl: 100)
                    try await Task.sleep(for: .milliseconds(500))
                }
                return false
            }
            let heard = try await group.next() ?? false
            group.cancelAll()
            return heard
        }
    }

    /// A listening connection whose server stops answering without closing
    /// it (its backend frozen with SIGSTOP, as a vanished host or a NAT that
    /// forgot the connection would leave it) is found out by its check,
    /// closed and made again: drops are heard again.
    @Test func aListenerWhoseServerStopsAnsweringConnectsAgain() async throws {
        let (configuration, drop) = try await TestPostgres.freshDatabase()
        let logger = Logger(label: "kith-test-store")
        let one = try await PostgresRelayStore.open(configuration, logger: logger)
        let other = try await PostgresRelayStore.open(configuration, logger: logger, connectTimeout: .seconds(2), listenerCheck: .seconds(1))
        var frozen: [Int] = []
        do {
            let bob = try await Box.make(one)
            let arrivals = try #require(other.arrivals)
            func hear() async throws -> Bool { try await Self.hears(arrivals, of: bob, droppingThrough: one, tries: 60) }
            #expect(try await hear(), "heard before the freeze")
            frozen = try await TestPostgres.integers("""
                SELECT pid FROM pg_stat_activity WHERE datname = '\(configuration.database)' AND backend_type = 'client backend'
                AND (query LIKE 'LISTEN%' OR query = 'SELECT 1')
                """, on: configuration)
            #expect(frozen.count == 2, "both stores' listeners: \(frozen)")
            for pid in frozen { kill(pid_t(pid), SIGSTOP) }
            #expect(try await hear(), "heard after the listener's server stopped answering")
        } catch {
            Issue.record(error)
        }
        for pid in frozen { kill(pid_t(pid), SIGCONT) }
        await one.close()
        await other.close()
        await drop()
    }

    /// Nothing listens on the port: `open` fails with `RelayStoreUnavailable`
    /// naming the server, within its timeout (it does not hang).
    @Test func anUnreachableServerIsUnavailable() async throws {
        var configuration = try TestPostgres.configuration()
        configuration.host = "127.0.0.1"
        configuration.port = 1
        let error = await #expect(throws: RelayStoreUnavailable.self) {
            _ = try await PostgresRelayStore.open(configuration, logger: Logger(label: "kith-test-store"), connectTimeout: .seconds(5))
        }
        #expect(error?.description.hasPrefix("cannot reach the PostgreSQL server at 127.0.0.1:1") == true, "\(String(describing: error))")
    }

    @Test func aWrongPasswordOrAMissingDatabaseIsUnavailableAndSaysWhy() async throws {
        var wrong = try TestPostgres.configuration()
        wrong.password = "not-the-password"
        let refused = await #expect(throws: RelayStoreUnavailable.self) {
            _ = try await PostgresRelayStore.open(wrong, logger: Logger(label: "kith-test-store"))
        }
        #expect(refused?.description.hasPrefix("authentication failed for user \(wrong.user)") == true, "\(String(describing: refused))")
        var missing = try TestPostgres.configuration()
        missing.database = "kith_missing_" + Hex.encode(randomBytes(4))
        let absent = await #expect(throws: RelayStoreUnavailable.self) {
            _ = try await PostgresRelayStore.open(missing, logger: Logger(label: "kith-test-store"))
        }
        #expect(absent?.description.hasPrefix("database \(missing.database) does not exist") == true, "\(String(describing: absent))")
    }

    /// A database its user may not create tables in: `open` says that
    /// migrating failed, with the server's SQLSTATE and message.
    @Test func aMigrationTheServerRefusesSaysWhy() async throws {
        let (configuration, drop) = try await TestPostgres.freshDatabase()
        try await TestPostgres.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC, pg_database_owner", on: configuration)
        let refused = await #expect(throws: RelayStoreUnavailable.self) {
            _ = try await PostgresRelayStore.open(configuration, logger: Logger(label: "kith-test-store"))
        }
        #expect(refused?.description.hasPrefix(
            "migrating the store on the PostgreSQL server at \(configuration.host):\(configuration.port) failed: SQLSTATE 42501: ") == true,
                "\(String(describing: refused))")
        await drop()
        // A server that is read-only (a standby, as after a failover) is unavailable.
        let (readOnly, dropReadOnly) = try await TestPostgres.freshDatabase()
        try await TestPostgres.execute("ALTER DATABASE \(readOnly.database) SET default_transaction_read_only = on", on: readOnly)
        let unavailable = await #expect(throws: RelayStoreUnavailable.self) {
            _ = try await PostgresRelayStore.open(readOnly, logger: Logger(label: "kith-test-store"))
        }
        #expect(unavailable?.description.hasPrefix("the PostgreSQL server at \(readOnly.host):\(readOnly.port) is read-only now") == true,
                "\(String(describing: unavailable))")
        await dropReadOnly()
    }

    /// A store whose database goes away once it is open: each operation
    /// throws `RelayStoreUnavailable` (after waiting at most the timeout for
    /// a connection), and nothing traps.
    @Test func operationsOnADatabaseThatWentAwayAreUnavailable() async throws {
        let (configuration, drop) = try await TestPostgres.freshDatabase()
        let store = try await PostgresRelayStore.open(configuration, logger: Logger(label: "kith-test-store"), connectTimeout: .seconds(3))
        let bob = try await Box.make(store)
        await drop()
        await #expect(throws: RelayStoreUnavailable.self) {
            _ = try await store.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes()), now: 1, ttl: 100)
        }
        await #expect(throws: RelayStoreUnavailable.self) { _ = try await store.counts() }
        await store.close()
        // A closed store's pool is shut down: still unavailable.
        await #expect(throws: RelayStoreUnavailable.self) { _ = try await store.counts() }
    }

    /// After a minute of failed attempts to connect, the pool's circuit
    /// breaker fails every request at once: still `RelayStoreUnavailable`
    /// (each operation goes on being so for 75 seconds of outage).
    @Test func aLongOutageStaysUnavailable() async throws {
        let (configuration, drop) = try await TestPostgres.freshDatabase()
        let store = try await PostgresRelayStore.open(configuration, logger: Logger(label: "kith-test-store"), connectTimeout: .seconds(3))
        await drop()
        let clock = ContinuousClock(), end = clock.now.advanced(by: .seconds(75))
        var attempts = 0
        while clock.now < end {
            attempts += 1
            await #expect(throws: RelayStoreUnavailable.self) { _ = try await store.counts() }
        }
        #expect(attempts > 1)
        await store.close()
    }
}
