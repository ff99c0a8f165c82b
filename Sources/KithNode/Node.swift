import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// One person's node, living in one directory (`--home`): the keystore and
/// the database. Opening it reads only the database; operations that need
/// secrets require `unlock(passphrase:)` first.
public struct Node: Sendable {
    public let home: String
    let db: NodeDatabase
    /// The decrypted keystore, once unlocked; shared by copies of this value.
    let unlocked: UnlockedKeystore?
    let clock: @Sendable () -> UInt64
    /// How failed deliveries back off (the daemon's `outbox` settings).
    public var retryPolicy: RetryPolicy = .standard
    /// Whether a friend's inbox update may name a relay on a local network
    /// that is not mine (as `addFriend(allowLocalRelays:)` for a card);
    /// the command line sets it from `KITH_ALLOW_LOCAL_RELAYS=1`.
    public var allowsLocalRelays = false
    /// When friends' attachments are fetched (the daemon's `attachments.fetch`, `kith sync --fetch-attachments`).
    public var attachmentFetch: AttachmentFetch = .background
    /// Where uploads and downloads of attachments report their progress, if anywhere.
    public var transferProgress: TransferProgress?
    /// How much of friends' attachments is fetched without being asked for.
    public var attachmentLimits = AttachmentLimits()

    /// The node's secrets as they are now, if unlocked.
    var keys: Keystore? { unlocked?.keys }

    public static func now() -> UInt64 { UInt64(Date().timeIntervalSince1970) }

    /// Validity of a new encryption key's certificate: a year (at most 400
    /// days, `EncryptionKeyCertificate.maxLifetime`). Rotation replaces the
    /// key long before (weekly by default, see Node+Rotation.swift); the long
    /// window lets friends keep sealing to it while this node is away and
    /// does not rotate, instead of skipping it.
    static let encryptionKeyLifetime: UInt64 = 365 * 24 * 3600

    /// Opens an initialised node directory.
    public static func open(home: String, clock: @escaping @Sendable () -> UInt64 = Node.now) throws -> Node {
        let keystore = (home as NSString).appendingPathComponent(Keystore.fileName)
        guard FileManager.default.fileExists(atPath: keystore) else {
            throw NodeError("\(home) is not a Kith node (no keystore)", hint: "run `kith init --home \(home) --name NAME --relay URL` first")
        }
        let db = try NodeDatabase(path: (home as NSString).appendingPathComponent(NodeDatabase.fileName))
        return Node(home: home, db: db, unlocked: nil, clock: clock)
    }

    /// The same node with its keystore decrypted.
    public func unlock(passphrase: [UInt8]) throws -> Node {
        let (keys, fileKey) = try Keystore.unlock(path: keystorePath, passphrase: passphrase)
        try db.completeMigrations(atRest: keys.atRest)
        return Node(home: home, db: db, unlocked: UnlockedKeystore(keys, fileKey: fileKey, path: keystorePath), clock: clock)
    }

    var keystorePath: String { (home as NSString).appendingPathComponent(Keystore.fileName) }

    func requireKeys() throws -> Keystore {
        guard let keys else { throw NodeError("this operation needs the keystore unlocked") }
        return keys
    }

    /// Seals and opens what is personal in the database; needs the keystore.
    var atRest: AtRest {
        get throws { try requireKeys().atRest }
    }

    /// My identity public key.
    public func identity() throws -> [UInt8] {
        guard let v = try db.profileValue("identity") else { throw NodeError("node database has no identity") }
        return [UInt8](v)
    }

    /// My name, as my cards give it (sealed in the database: needs the keystore).
    public func name() throws -> String {
        guard let v = try db.profileValue("name") else { throw NodeError("node database has no name") }
        return try atRest.text(v, .myName)
    }

    // MARK: Creating a node

    /// Creates a node in `home`: keys, a mailbox registered on every relay,
    /// the database and the encrypted keystore. On any failure nothing is left behind.
    public static func create(home: String, name: String, relays: [String], passphrase: [UInt8], kdf: Keystore.Limits = .standard,
                              invite: RelayInvite? = nil, clock: @escaping @Sendable () -> UInt64 = Node.now) async throws -> Node {
        try Validate.name(name, what: "name")
        guard !passphrase.isEmpty else { throw NodeError("the passphrase must not be empty") }
        var urls: [String] = []
        for relay in relays {
            let url = try Validate.relayURL(relay)
            if !urls.contains(url) { urls.append(url) }
        }
        guard !urls.isEmpty else { throw NodeError("at least one --relay is needed") }
        let fm = FileManager.default
        let keystorePath = (home as NSString).appendingPathComponent(Keystore.fileName)
        let dbPath = (home as NSString).appendingPathComponent(NodeDatabase.fileName)
        guard !fm.fileExists(atPath: keystorePath), !fm.fileExists(atPath: dbPath) else {
            throw NodeError("\(home) already holds a Kith node")
        }
        let createdHome = !fm.fileExists(atPath: home)
        do { try fm.createDirectory(atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
            throw NodeError("cannot create \(home): \(error.localizedDescription)")
        }
        do { try makePrivate(home: home, databasePath: dbPath) } catch {
            if createdHome { try? fm.removeItem(atPath: home) }
            throw error
        }

        let now = clock()
        let identity = SigningKey()
        let encryption = BoxKey()
        let cert = EncryptionKeyCertificate(publicKey: encryption.publicKey, notBefore: now - 3600,
                                            notAfter: now + encryptionKeyLifetime, signedBy: identity)
        var mailboxKeys: [String: SigningKey] = [:]
        for url in urls { mailboxKeys[url] = SigningKey() }
        let keys = Keystore(identity: identity, storageKey: SecretBytes(random: 32),
                            encryptionKeys: [.init(key: encryption, notAfter: cert.notAfter)], mailboxKeys: mailboxKeys)
        do {
            for url in urls {
                try await RelayClient(baseURL: url).register(mailboxKey: mailboxKeys[url]!, invite: invite)
            }
            let db = try NodeDatabase(path: dbPath)
            try db.completeMigrations(atRest: keys.atRest)
            let sealedName = try keys.atRest.seal(name, .myName)
            var w = ByteWriter()
            cert.write(to: &w)
            let certBytes = w.bytes
            let mailboxRows = urls.map { ($0, Data(mailboxKeys[$0]!.publicKey)) }
            try await db.writer.write { db in
                try NodeDatabase.setProfile(db, "name", sealedName)
                try NodeDatabase.setProfile(db, "identity", Data(identity.publicKey))
                try NodeDatabase.setProfile(db, "encryption_key", Data(certBytes))
                try NodeDatabase.setProfile(db, "card_sequence", Data(String(0).utf8))
                for (url, mailbox) in mailboxRows {
                    try db.execute(sql: "INSERT INTO mailbox (relay, mailbox) VALUES (?, ?)", arguments: [url, mailbox])
                }
            }
            let fileKey = try keys.write(to: keystorePath, passphrase: passphrase, opsLimit: kdf.ops, memLimit: kdf.mem)
            return Node(home: home, db: db, unlocked: UnlockedKeystore(keys, fileKey: fileKey, path: keystorePath), clock: clock)
        } catch {
            for suffix in ["", "-wal", "-shm"] { try? fm.removeItem(atPath: dbPath + suffix) }
            try? fm.removeItem(atPath: keystorePath)
            if createdHome { try? fm.removeItem(atPath: home) }
            if let failure = error as? RelayClient.Failure { throw NodeError("registering a mailbox failed: \(failure.description)", hint: failure.hint) }
            throw error
        }
    }
}

extension Node {
    /// Makes an existing or new node directory private before anything is
    /// written in it: mode 0700 (it must be mine), nothing where the database
    /// or keystore will go, and no stale WAL or shared-memory file beside the
    /// database about to be created, since SQLite would take a leftover WAL's
    /// pages into the new database. The database and keystore are then
    /// created 0600 by `NodeDatabase` and `SecureFile`.
    static func makePrivate(home: String, databasePath: String) throws {
        var st = stat()
        guard stat(home, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { throw NodeError("\(home) is not a directory") }
        guard st.st_uid == geteuid() else {
            throw NodeError("\(home) is owned by another user (uid \(st.st_uid))", hint: "choose a directory of your own with --home")
        }
        guard chmod(home, 0o700) == 0 else { throw NodeError("cannot make \(home) private: \(String(cString: strerror(errno)))") }
        // Anything already named like the node's files, even a dangling symbolic link
        // (through which SQLite would create the database somewhere else), is refused.
        for path in [databasePath, (home as NSString).appendingPathComponent(Keystore.fileName)] {
            guard lstat(path, &st) != 0 else { throw NodeError("\(path) is in the way", hint: "remove it, or choose another --home") }
        }
        for suffix in ["-wal", "-shm"] {
            guard unlink(databasePath + suffix) == 0 || errno == ENOENT else {
                throw NodeError("cannot remove the stale \(databasePath + suffix): \(String(cString: strerror(errno)))")
            }
        }
    }
}

extension Array where Element == UInt8 {
    var data: Data { Data(self) }
}
