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

    /// Opens the node and decrypts its keystore, for a command that rewrites
    /// the keystore (`what` it does): refused while a daemon runs for the
    /// node, since the daemon rewrites it too (rotation) and one would undo
    /// the other's change.
    func unlockWithoutDaemon(to what: String) throws -> Node {
        let dir = try resolve()
        if ControlClient.running(home: dir) != nil {
            throw NodeError("a daemon runs for \(dir): stop it before you \(what)",
                            hint: "the daemon rewrites the keystore too; start it again afterwards")
        }
        return try unlock()
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
