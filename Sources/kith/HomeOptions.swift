import ArgumentParser
import Foundation
import KithCrypto
import KithDaemon
import KithNode

/// `--home DIR`, or `KITH_HOME`.
struct HomeOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The node's directory (default: $KITH_HOME).", valueName: "dir"))
    var home: String?

    func resolve() throws -> String {
        if let home, !home.isEmpty { return home }
        if let env = ProcessInfo.processInfo.environment["KITH_HOME"], !env.isEmpty { return env }
        throw NodeError("no node directory given", hint: "pass --home DIR or set KITH_HOME")
    }

    /// Opens the node without its secrets.
    func open() throws -> Node { try Node.open(home: try resolve()) }

    /// Runs `command` on the node: inside its running daemon, which holds
    /// the unlocked keystore, so no passphrase is asked; with no daemon,
    /// here, after unlocking the keystore (reporting uploads' and downloads'
    /// progress to `progress`, if given: the daemon logs its own).
    func run<C: NodeCommand>(_ command: C, progress: TransferProgress? = nil) async throws -> C.Answer {
        if let daemon = ControlClient.running(home: try resolve()) { return try await daemon.run(command) }
        var node = try unlock()
        node.transferProgress = progress
        return try await command.run(on: node)
    }

    /// Opens the node and decrypts its keystore.
    func unlock() throws -> Node {
        let node = try open()
        var passphrase = try Passphrase.obtain(confirm: false)
        defer { wipe(&passphrase) }
        var unlocked = try node.unlock(passphrase: passphrase)
        unlocked.allowsLocalRelays = Input.allowLocalRelays
        return unlocked
    }
}
