import ArgumentParser
import Foundation
import KithCrypto
import KithDaemon
import KithNode

/// `kith key`: inspecting my keys, rotating the encryption key and changing
/// the keystore's passphrase.
struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Inspect your keys; rotate the encryption key; change the keystore's passphrase; back up your identity.",
        subcommands: [Show.self, Rotate.self, Schedule.self, Passwd.self, BackupCommand.self]
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show your public keys, their validity and your mailboxes. Never a secret.",
            discussion: """
                Prints your name, identity key and fingerprint, your current encryption key with its \
                validity window, the rotation schedule with the next rotation, the old encryption keys \
                whose secrets are still kept and until when, and your mailbox id on each relay. Keys are \
                base64url. Everything shown is public: friends already hold it in your card.
                """
        )
        @OptionGroup var home: HomeOptions
        @Flag(help: """
            Print JSON: {name, identity, fingerprint, encryptionKey: {publicKey, notBefore, notAfter, validNow}, \
            rotation: {automatic, everyDays, graceDays, lastRotation, nextRotation, keyLifetimeDays}, \
            oldKeys: [{publicKey, retiredAt, erasedAfter}], mailboxes: [{relay, mailbox}]}.
            """)
        var json = false

        func run() async throws {
            let info = try await home.run(KeyShowRequest())
            if json { return try Console.json(info) }
            Console.out("name            \(info.name)")
            Console.out("identity        \(info.identity)")
            Console.out("fingerprint     \(info.fingerprint)")
            Console.out("encryption key  \(info.encryptionKey.publicKey)")
            Console.out("  valid         from \(info.encryptionKey.notBefore) until \(info.encryptionKey.notAfter)"
                + (info.encryptionKey.validNow ? " (valid now)" : " (NOT valid now)"))
            Console.out("rotation        every \(days(info.rotation.everyDays)), at the first sync after \(info.rotation.nextRotation)")
            Console.out("  last          \(info.rotation.lastRotation)")
            Console.out("  grace         old secrets are kept \(days(info.rotation.graceDays)), then erased")
            if info.oldKeys.isEmpty { Console.out("old keys        none kept") }
            for old in info.oldKeys {
                Console.out("old key         \(old.publicKey) replaced \(old.retiredAt), erased after \(old.erasedAfter)")
            }
            for m in info.mailboxes { Console.out("mailbox         \(m.mailbox) on \(m.relay)") }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace your encryption key now; friends learn the new one at their next sync.",
            discussion: """
                Makes a new encryption key, signed by your identity, and queues a signed key update for \
                every friend; the next `kith sync` delivers it (this command does not contact relays). \
                Friends seal to the new key once they have synced. The old secret still opens what was \
                sealed to it for the grace period (`kith key schedule`), then a sync erases it from the \
                keystore: whoever later gets your node directory and passphrase cannot open key messages \
                sealed to it. `kith sync` also rotates by itself on the schedule (weekly unless changed). \
                While a daemon runs for the node, the daemon makes the key (no passphrase is asked) and \
                sends the updates at once.
                """
        )
        @OptionGroup var home: HomeOptions

        func run() async throws {
            let rotation = try await home.run(KeyRotateRequest())
            let info = rotation.keys
            Console.out("encryption key  \(info.encryptionKey.publicKey)")
            let friends = rotation.updatesQueuedFor == 1 ? "1 friend" : "\(rotation.updatesQueuedFor) friends"
            Console.note("new encryption key made; an update is queued for \(friends), sent by your next `kith sync`")
            Console.note("friends seal to the new key after their next sync; the old secret opens late envelopes for "
                + "\(days(info.rotation.graceDays)), then a sync erases it, so a later theft of this directory and "
                + "passphrase cannot open what was sealed to it")
            if !rotation.skipped.isEmpty {
                Console.warning("no update for \(rotation.skipped.joined(separator: ", ")): their encryption key is not valid now; "
                    + "they learn your new key from your next card")
            }
        }
    }

    struct Schedule: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show or set how often the encryption key is replaced and how long old secrets are kept.",
            discussion: """
                Without options, prints the schedule. --every DAYS (1 to 365, default 7) sets how often \
                `kith sync` replaces the encryption key. --grace DAYS (1 to 90, default 14) sets how long a \
                replaced secret still opens envelopes sealed to it, for friends who had not synced yet, \
                before a sync erases it. A longer grace serves friends who sync rarely; a shorter one \
                erases old secrets sooner.
                """
        )
        @OptionGroup var home: HomeOptions
        @Option(help: ArgumentHelp("Replace the encryption key every DAYS days (1 to 365).", valueName: "days")) var every: Int?
        @Option(help: ArgumentHelp("Keep a replaced secret DAYS days before erasing it (1 to 90).", valueName: "days")) var grace: Int?

        func run() async throws {
            let info = try await home.run(KeyScheduleRequest(every: every, grace: grace))
            Console.out("rotation  every \(days(info.rotation.everyDays)); next at the first sync after \(info.rotation.nextRotation)")
            Console.out("grace     \(days(info.rotation.graceDays))")
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-encrypt the keystore under a new passphrase; the old one stops working.",
            discussion: """
                Asks for the current passphrase (or reads KITH_PASSPHRASE or KITH_PASSPHRASE_FILE), then \
                for the new one twice on the terminal, or reads it from KITH_NEW_PASSPHRASE (for scripts; \
                like KITH_PASSPHRASE it is visible to your other processes). The new passphrase needs at \
                least \(Keystore.minimumPassphraseLength) characters. The keystore is rewritten atomically \
                with the current key-derivation limits, so an older keystore is upgraded as well (giving \
                the same passphrase again only does that). A copy of the old keystore file, in a backup say, \
                still opens with the old passphrase. It is refused while a daemon runs for the node: the \
                daemon was unlocked with the old passphrase and could not rewrite the keystore (a rotation) \
                after the change, so stop it first and start it again with the new passphrase.
                """
        )
        @OptionGroup var home: HomeOptions

        func run() async throws {
            let env = ProcessInfo.processInfo.environment
            // A new passphrase given for a script is checked before the slow unlock.
            var fromEnvironment = try NewPassphrase.fromEnvironment()
            defer { if fromEnvironment != nil { wipe(&fromEnvironment!) } }
            if let given = fromEnvironment { try Keystore.checkNewPassphrase(given) }
            let dir = try home.resolve()
            if ControlClient.running(home: dir) != nil {
                throw NodeError("a daemon runs for \(dir): stop it before you change the passphrase",
                                hint: "the daemon keeps the keystore's key from its unlock; start it again afterwards with the new passphrase")
            }
            let node = try home.unlock()
            var newPassphrase = try fromEnvironment ?? NewPassphrase.prompt()
            defer { wipe(&newPassphrase) }
            try node.changePassphrase(to: newPassphrase)
            Console.note("the keystore is now encrypted under the new passphrase; the old one no longer opens it")
            if env["KITH_PASSPHRASE"] == nil, env["KITH_PASSPHRASE_FILE"] != nil {
                Console.note("remember to put the new passphrase in the file named by KITH_PASSPHRASE_FILE")
            }
        }
    }
}

private func days(_ n: Int) -> String { n == 1 ? "1 day" : "\(n) days" }

/// `kith key backup`: everything needed to bring this node back elsewhere.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write an encrypted backup of your identity, friends, audiences and feed.",
        discussion: """
            The backup holds your keys (identity, encryption, mailbox and storage keys), your friends with the \
            drop tokens they gave you, your audiences and their keys, the tokens you issued, and your feed, \
            encrypted under a passphrase of its own (KITH_BACKUP_PASSPHRASE, or asked twice; at least \
            \(Keystore.minimumPassphraseLength) characters). Keep it somewhere safe and apart from the passphrase. \
            `kith init --home DIR --restore FILE` brings the node back, on this machine or another; friends \
            need do nothing. Make a new backup after adding friends or audiences.
            """
    )
    @OptionGroup var home: HomeOptions
    @Option(help: ArgumentHelp("Where to write the backup (mode 0600).", valueName: "file")) var out: String

    func run() async throws {
        let node = try home.unlock()
        var passphrase = try BackupPassphrase.obtain(confirm: true)
        defer { wipe(&passphrase) }
        try node.backup(to: out, passphrase: passphrase) { Console.note($0) }
        Console.note("wrote the backup to \(out)")
    }
}

/// The new passphrase for `kith key passwd`: `KITH_NEW_PASSPHRASE`, or asked
/// twice on the terminal without echo. (The current passphrase comes from
/// `Passphrase`.)
enum NewPassphrase {
    static func fromEnvironment() throws -> [UInt8]? {
        guard let value = ProcessInfo.processInfo.environment["KITH_NEW_PASSPHRASE"] else { return nil }
        guard !value.isEmpty else { throw NodeError("KITH_NEW_PASSPHRASE is empty") }
        return Array(value.utf8)
    }

    static func prompt() throws -> [UInt8] {
        var first = try readLine(prompt: "New passphrase: ")
        var second = try readLine(prompt: "New passphrase again: ")
        defer { wipe(&second) }
        guard constantTimeEqual(first, second) else {
            wipe(&first)
            throw NodeError("the new passphrases do not match", hint: "nothing was changed; run `kith key passwd` again")
        }
        return first
    }

    private static func readLine(prompt text: String) throws -> [UInt8] {
        try Passphrase.prompt(text, noTerminal: NodeError("no new passphrase: there is no terminal to ask on", hint: "set KITH_NEW_PASSPHRASE"))
    }
}
