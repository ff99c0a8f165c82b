import ArgumentParser
import KithDaemon
import KithNode

/// `kith whoami`: my name and fingerprint, to read to a friend who wants to
/// check my card. It needs the passphrase: my name is stored sealed.
struct WhoamiCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whoami",
        abstract: "Print your name and fingerprint.",
        discussion: """
            Read the fingerprint to a friend who has your card: `kith friend list` shows it on their side. \
            `kith friend verify FRIEND` checks both identities at once; `kith key show` shows all your public keys.
            """
    )
    @OptionGroup var home: HomeOptions

    func run() async throws {
        let info = try await home.run(KeyShowRequest())
        Console.out("\(info.name)  \(info.fingerprint)")
    }
}
