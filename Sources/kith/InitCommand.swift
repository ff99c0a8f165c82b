import ArgumentParser
import KithCrypto
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
    var name: String

    @Option(help: ArgumentHelp("A relay to keep your mailbox on. Repeat for several.", valueName: "url"))
    var relay: [String] = []

    func run() async throws {
        let dir = try home.resolve()
        var passphrase = try Passphrase.obtain(confirm: true)
        defer { wipe(&passphrase) }
        try Keystore.checkNewPassphrase(passphrase)
        let node = try await Node.create(home: dir, name: name, relays: relay, passphrase: passphrase)
        Console.out("\(name)  \(Fingerprint.of(identity: try node.identity()))")
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
        let card = try await home.unlock().issueCard(for: holder)
        Console.out(card.text)
    }
}
