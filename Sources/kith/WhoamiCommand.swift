import ArgumentParser
import KithNode

/// `kith whoami`: my name and fingerprint, to read to a friend who wants to
/// check my card. It reads only the database, so it needs no passphrase.
struct WhoamiCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whoami",
        abstract: "Print your name and fingerprint (no passphrase needed).",
        discussion: """
            Read the fingerprint to a friend who has your card: `kith friend list` shows it on their side. \
            `kith friend verify FRIEND` checks both identities at once; `kith key show` shows all your public keys.
            """
    )
    @OptionGroup var home: HomeOptions

    func run() throws {
        let info = try home.open().keyInfo()
        Console.out("\(info.name)  \(info.fingerprint)")
    }
}
