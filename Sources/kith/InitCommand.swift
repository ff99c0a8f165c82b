import Foundation
import ArgumentParser
import KithCrypto
import KithDaemon
import KithNode
import KithProtocol

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a node: keys, a mailbox on each relay, an encrypted keystore.",
        discussion: """
            Prints your name and fingerprint. Friends compare the fingerprint to be sure a card is yours. \
            The passphrase needs at least \(Keystore.minimumPassphraseLength) characters; a few unrelated words are easy \
            to remember and hard to guess.
            """
    )

    @OptionGroup var home: HomeOptions

    @Option(help: "Your display name, as friends will see it (1 to 64 bytes).")
    var name: String?

    @Option(help: ArgumentHelp("A relay to keep your mailbox on. Repeat for several.", valueName: "url"))
    var relay: [String] = []

    @Option(help: ArgumentHelp("A one-time invite code from the operator of a relay that registers by invitation (`kith relay invite`); sent with the registration on each --relay.", valueName: "code"))
    var invite: String?

    @Option(help: ArgumentHelp("Bring a node back from a backup made by `kith key backup` (instead of --name and --relay).", valueName: "file"))
    var restore: String?

    func validate() throws {
        if restore != nil {
            guard name == nil, relay.isEmpty, invite == nil else {
                throw ValidationError("--restore takes the name and relays from the backup: give neither --name, --relay nor --invite")
            }
        } else {
            guard name != nil else { throw ValidationError("Missing expected argument '--name <name>'") }
        }
    }

    func run() async throws {
        let dir = try home.resolve()
        if let restore {
            var backupPassphrase = try BackupPassphrase.obtain(confirm: false)
            defer { wipe(&backupPassphrase) }
            // The backup is opened first, so that a wrong passphrase or a damaged file is said at once.
            let contents = try Node.openBackup(restore, passphrase: backupPassphrase) { Console.note($0) }
            Console.note("the backup opened; now the passphrase for this node's keystore")
            var passphrase = try Passphrase.obtain(confirm: true)
            defer { wipe(&passphrase) }
            try Keystore.checkNewPassphrase(passphrase)
            let node = try Node.restore(home: dir, from: contents, passphrase: passphrase) { Console.note($0) }
            try Self.writeConfig(in: dir)
            Console.out("\(try node.name())  \(Fingerprint.of(identity: try node.identity()))")
            Console.note("restored: `kith sync` fetches what friends sent meanwhile; they need do nothing")
            return
        }
        let code: RelayInvite?
        do { code = try invite.map { try RelayInvite(text: $0) } } catch {
            throw NodeError("--invite is not an invite code", hint: "an invite code is \(RelayInvite.textLength) characters, as `kith relay invite` prints it")
        }
        var passphrase = try Passphrase.obtain(confirm: true)
        defer { wipe(&passphrase) }
        try Keystore.checkNewPassphrase(passphrase)
        let node = try await Node.create(home: dir, name: name ?? "", relays: relay, passphrase: passphrase, invite: code)
        try Self.writeConfig(in: dir)
        Console.out("\(name ?? "")  \(Fingerprint.of(identity: try node.identity()))")
    }
}

extension InitCommand {
    /// Writes the commented config file for `kith daemon` into a new node
    /// directory, unless one is there already (it is the user's).
    static func writeConfig(in dir: String) throws {
        let path = (dir as NSString).appendingPathComponent(DaemonConfiguration.fileName)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { return }
            throw NodeError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let text = DaemonConfiguration.template + "\n"
        guard text.withCString({ write(fd, $0, strlen($0)) }) == text.utf8.count else {
            throw NodeError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// The passphrase of a backup file: `KITH_BACKUP_PASSPHRASE`, or asked on the
/// terminal without echo (twice when making a backup).
enum BackupPassphrase {
    static func obtain(confirm: Bool) throws -> [UInt8] {
        if let value = ProcessInfo.processInfo.environment["KITH_BACKUP_PASSPHRASE"] {
            guard !value.isEmpty else { throw NodeError("KITH_BACKUP_PASSPHRASE is empty") }
            return Array(value.utf8)
        }
        let noTerminal = NodeError("no backup passphrase: there is no terminal to ask on", hint: "set KITH_BACKUP_PASSPHRASE")
        var first = try Passphrase.prompt("Backup passphrase: ", noTerminal: noTerminal)
        if confirm {
            var second = try Passphrase.prompt("Backup passphrase again: ", noTerminal: noTerminal)
            defer { wipe(&second) }
            guard constantTimeEqual(first, second) else {
                wipe(&first)
                throw NodeError("the backup passphrases do not match")
            }
        }
        return first
    }
}

struct CardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "card",
        abstract: "Print your contact card on one line, with a new drop token for the friend you give it to.",
        discussion: """
            Give each friend their own card: each carries its own drop token, so one friend can later be cut off alone. \
            Name the friend with --for NAME (the name you will know them by), so that `kith friend remove NAME` can \
            revoke that card's tokens.
            """
    )

    @OptionGroup var home: HomeOptions

    @Option(name: .customLong("for"), help: "Whom the card is for, so that `kith friend remove NAME` can revoke its tokens.")
    var holder: String?

    func run() async throws {
        Console.out(try await home.run(CardRequest(holder: holder)))
    }
}
