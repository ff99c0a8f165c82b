import ArgumentParser
import KithDaemon
import KithNode

/// `kith relay add URL`: a mailbox on one more relay for this node.
struct RelayAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Keep your mailbox on one more relay too.",
        discussion: """
            Registers a new mailbox on the relay (with --invite CODE for a relay that registers by \
            invitation), gives every friend a drop token of their own for it, and queues a signed \
            inbox update for each; friends learn it at their next sync, and your next cards carry it. \
            Senders then deliver to all your relays and `kith sync` fetches from all of them. \
            A node keeps at most 8 relays; an update carries a relay URL of at most 51 bytes.
            """
    )

    @OptionGroup var home: HomeOptions

    /// `kith relay` reads `--home` too (the relay's directory); here it is the node's.
    @ParentCommand var relay: RelayCommand

    @Option(help: ArgumentHelp("A one-time invite code from the relay's operator.", valueName: "code")) var invite: String?

    @Argument(help: ArgumentHelp("The relay's URL.", valueName: "url")) var url: String

    func run() async throws {
        let change = try await RelayChangeReport.home(home, relay).run(RelayAddRequest(url: url, invite: invite))
        RelayChangeReport.print(change, verb: "added")
    }
}

/// `kith relay remove URL`: stop keeping the mailbox on a relay.
struct RelayRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Stop keeping your mailbox on a relay.",
        discussion: """
            Queues a signed inbox update telling every friend to stop delivering there, revokes the \
            drop tokens you issued on it (if it answers), and forgets the mailbox and its key: \
            `kith sync` no longer fetches from it. Your last relay cannot be removed.
            """
    )

    @OptionGroup var home: HomeOptions

    /// `kith relay` reads `--home` too (the relay's directory); here it is the node's.
    @ParentCommand var relay: RelayCommand

    @Argument(help: ArgumentHelp("The relay's URL.", valueName: "url")) var url: String

    func run() async throws {
        let change = try await RelayChangeReport.home(home, relay).run(RelayRemoveRequest(url: url))
        RelayChangeReport.print(change, verb: "removed")
    }
}

enum RelayChangeReport {
    /// The node to change: `--home` may have been read by `kith relay` itself.
    static func home(_ home: HomeOptions, _ relay: RelayCommand) -> HomeOptions {
        var home = home
        if home.home == nil { home.home = relay.place.home }
        return home
    }

    static func print(_ change: RelayChange, verb: String) {
        for failure in change.failures { Console.warning(failure) }
        if !change.skipped.isEmpty {
            Console.note("no inbox update for \(change.skipped.map { Console.visible($0) }.joined(separator: ", ")): they learn it from your next card")
        }
        if change.revoked > 0 { Console.note("revoked \(change.revoked) drop \(change.revoked == 1 ? "token" : "tokens")") }
        Console.note("inbox update queued for \(change.updatesQueuedFor) \(change.updatesQueuedFor == 1 ? "friend" : "friends"); `kith sync` sends it")
        Console.out("\(verb) \(Console.visible(change.relay))")
    }
}
