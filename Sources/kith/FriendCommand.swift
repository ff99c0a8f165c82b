import ArgumentParser
import Foundation
import KithNode

struct FriendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "friend",
        abstract: "Add and list friends.",
        subcommands: [Add.self, List.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a friend from their contact card (checks its signature).",
            discussion: """
                Prints the friend's name and fingerprint: compare the fingerprint with your friend by another channel. \
                A card naming a relay on a loopback, private or link-local address (or localhost) is refused unless \
                that relay is one of yours; set KITH_ALLOW_LOCAL_RELAYS=1 to accept it anyway.
                """
        )

        @OptionGroup var home: HomeOptions

        @Option(name: .customLong("as"), help: "The name to know this friend by (default: the name in the card).")
        var localName: String?

        @Argument(help: "The contact card (kith-card:...), or - to read it from standard input.")
        var card: String

        func run() async throws {
            var text = card
            if card == "-" {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            let allowLocal = ProcessInfo.processInfo.environment["KITH_ALLOW_LOCAL_RELAYS"] == "1"
            let friend = try await home.open().addFriend(cardText: text, as: localName, allowLocalRelays: allowLocal)
            Console.out("\(friend.name)  \(friend.fingerprint)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List friends with their fingerprints.")

        @OptionGroup var home: HomeOptions

        @Flag(help: "Print a JSON array of {name, fingerprint, cardName, relays}.")
        var json = false

        func run() throws {
            let friends = try home.open().friends()
            if json { return try Console.json(friends) }
            for f in friends { Console.out("\(f.name)  \(f.fingerprint)") }
        }
    }
}

struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group",
        abstract: "Audiences: the groups of friends you post to.",
        subcommands: [Create.self, Add.self, List.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an audience with a fresh key.")
        @OptionGroup var home: HomeOptions
        @Argument(help: "The audience's name, e.g. family.") var name: String

        func run() async throws {
            try await home.unlock().createAudience(name: name)
            Console.note("created audience \"\(name)\"")
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a friend to an audience.",
            discussion: "Queues the audience key for the friend, sealed to their encryption key; `kith sync` delivers it. They can read what you post to the audience from then on."
        )
        @OptionGroup var home: HomeOptions
        @Argument(help: "The audience.") var name: String
        @Argument(help: "The friend, by the name `kith friend list` shows.") var friend: String

        func run() async throws {
            if try await home.unlock().addMember(audience: name, friend: friend) {
                Console.note("added \(friend) to \"\(name)\"; `kith sync` sends them the audience key")
            } else {
                Console.note("\(friend) is already in \"\(name)\"")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List your audiences and their members.")
        @OptionGroup var home: HomeOptions
        @Flag(help: "Print a JSON array of {name, epoch, members}.") var json = false

        func run() throws {
            let audiences = try home.open().audiences()
            if json { return try Console.json(audiences) }
            for a in audiences { Console.out("\(a.name): \(a.members.isEmpty ? "(no members)" : a.members.joined(separator: ", "))") }
        }
    }
}
