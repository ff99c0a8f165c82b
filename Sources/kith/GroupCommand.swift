import ArgumentParser
import Foundation
import KithDaemon
import KithNode

struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group",
        abstract: "Audiences: the groups of friends you post to.",
        subcommands: [Create.self, Add.self, Remove.self, List.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an audience with a fresh key.")
        @OptionGroup var home: HomeOptions
        @Argument(help: "The audience's name, e.g. family.") var name: String

        func run() async throws {
            _ = try await home.run(GroupCreateRequest(audience: name))
            Console.note("created audience \"\(name)\"")
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a friend to an audience.",
            discussion: """
                The audience gets a new key, sent to every member (the new one included) by `kith sync`. \
                The friend reads what you post to the audience from now on, not what you posted before, \
                even if someone passes them those posts. With --share-history they get the current key \
                instead, and can read what you posted since the audience's last change of members.
                """
        )
        @OptionGroup var home: HomeOptions
        @Flag(help: "Send the current key, so the friend can also read posts made since the last change of members.")
        var shareHistory = false
        @Argument(help: "The audience.") var name: String
        @Argument(help: "The friend, by the name `kith friend list` shows.") var friend: String

        func run() async throws {
            guard let change = try await home.run(GroupAddRequest(audience: name, friend: friend, shareHistory: shareHistory)).change else {
                return Console.note("\(friend) is already in \"\(name)\"")
            }
            if shareHistory {
                Console.note("added \(friend) to \"\(name)\" with its current key: they can read what you posted since its last change of members, and everything from now on; `kith sync` sends them the key")
            } else {
                Console.note("added \(friend) to \"\(name)\": they can read what you post from now on, not your earlier posts; `kith sync` sends the new key to \(change.keyQueuedFor) \(change.keyQueuedFor == 1 ? "member" : "members")")
            }
            GroupCommand.warnSkipped(change)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a friend from an audience.",
            discussion: """
                The audience gets a new key, sent only to the remaining members by `kith sync`. The friend \
                keeps the posts they already have, and cannot read anything you post to the audience from \
                now on, even if someone passes them those posts. The others notice nothing.
                """
        )
        @OptionGroup var home: HomeOptions
        @Argument(help: "The audience.") var name: String
        @Argument(help: "The friend, by the name `kith friend list` shows.") var friend: String

        func run() async throws {
            guard let change = try await home.run(GroupRemoveRequest(audience: name, friend: friend)).change else {
                return Console.note("\(friend) is not in \"\(name)\"")
            }
            Console.note("removed \(friend) from \"\(name)\": they keep the posts they already have and cannot read anything you post there from now on; `kith sync` sends the new key to the \(change.keyQueuedFor) remaining \(change.keyQueuedFor == 1 ? "member" : "members")")
            GroupCommand.warnSkipped(change)
        }
    }

    static func warnSkipped(_ change: Node.MembershipChange) {
        guard !change.skipped.isEmpty else { return }
        Console.warning("no new key for \(change.skipped.joined(separator: ", ")): their encryption key is not valid now, so they read nothing new until you add their newer card")
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List your audiences and their members.")
        @OptionGroup var home: HomeOptions
        @Flag(help: "Print a JSON array of {name, epoch, members}.") var json = false

        func run() async throws {
            let audiences = try await home.run(GroupListRequest())
            if json { return try Console.json(audiences) }
            for a in audiences { Console.out("\(a.name): \(a.members.isEmpty ? "(no members)" : a.members.joined(separator: ", "))") }
        }
    }
}
