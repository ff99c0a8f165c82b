import ArgumentParser
import Foundation
import KithCrypto
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
