import ArgumentParser
import Foundation
import KithDaemon
import KithNode

struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group",
        abstract: "Audiences: the groups of friends you post to.",
        subcommands: [Create.self, Add.self, Remove.self, List.self, Show.self, ShareMembers.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an audience with a fresh key.",
            discussion: """
                By default its members can see who else is in it (`kith group show NAME --owner YOU` on \
                their side): every comment goes to every member, so a member should know who reads it. \
                --hide-members keeps the list to you; members then see only you and themselves. \
                `kith group share-members` changes it later.
                """
        )
        @OptionGroup var home: HomeOptions
        @Flag(help: "Do not send members the list of who else is in the audience.") var hideMembers = false
        @Argument(help: "The audience's name, e.g. family.") var name: String

        func run() async throws {
            _ = try await home.run(GroupCreateRequest(audience: name, shareMembers: !hideMembers))
            Console.note("created audience \"\(name)\"")
            Console.note(hideMembers ? "members can see who else is in it: no (change with `kith group share-members \(ShellWord.quoted(name)) yes`)"
                                     : "members can see who else is in it: yes (change with `kith group share-members \(ShellWord.quoted(name)) no`)")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show who is in an audience: yours, or with --owner a friend's.",
            discussion: """
                For your audience: its epoch, whether members see the member list, and every member \
                with fingerprint (✓: verified). For a friend's (--owner FRIEND): what their key and \
                member list say; a member who is not your friend shows by fingerprint and the name the \
                owner gave them. --json prints {name, owner, epoch, members_shared, members_complete, \
                members}, each person as {name, fingerprint, verified, friend, you}.
                """
        )
        @OptionGroup var home: HomeOptions
        @Option(help: "The friend who owns the audience (default: you).") var owner: String?
        @Flag(help: "Print the audience as JSON.") var json = false
        @Argument(help: "The audience.") var name: String

        func run() async throws {
            let details = try await home.run(GroupShowRequest(audience: name, owner: owner))
            if json { return try Console.json(details) }
            func line(_ p: AudienceDetails.Person) -> String {
                let who = p.you ? "\(p.name) (you)" : p.friend ? VerifiedMark.name(p.name, verified: p.verified)
                    : "\(VerifiedMark.name(p.name, verified: false)) (\(VerifiedMark.name(details.owner.name, verified: false))'s name for them; not your friend)"
                return "  \(who)  \(p.fingerprint)"
            }
            Console.out("\(details.name): owner \(details.owner.you ? "you" : VerifiedMark.name(details.owner.name, verified: details.owner.verified)), epoch \(details.epoch)")
            Console.out("members can see who else is in it: \(details.membersShared ? "yes" : "no")")
            if !details.membersComplete {
                Console.out(details.membersShared ? "the member list has not arrived yet; you know of:" : "the owner keeps the member list hidden; you know of:")
            }
            if details.members.isEmpty { Console.out("  (no members)") }
            for member in details.members { Console.out(line(member)) }
        }
    }

    struct ShareMembers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "share-members",
            abstract: "Choose whether an audience's members can see who else is in it.",
            discussion: """
                The audience gets a new key, which says the choice, sent to every member by `kith sync`; \
                with yes, the member list follows it, and again after every change of members. Hiding \
                cannot take back a list members already received.
                """
        )
        @OptionGroup var home: HomeOptions
        @Argument(help: "The audience.") var name: String
        @Argument(help: "yes or no.") var share: String

        func validate() throws {
            guard ["yes", "no"].contains(share) else { throw ValidationError("say yes or no") }
        }

        func run() async throws {
            guard let change = try await home.run(GroupShareMembersRequest(audience: name, share: share == "yes")).change else {
                return Console.note("members of \"\(name)\" can see who else is in it: \(share) already")
            }
            Console.note("members of \"\(name)\" can see who else is in it: \(share); `kith sync` sends the new key to \(change.keyQueuedFor) \(change.keyQueuedFor == 1 ? "member" : "members")")
            GroupCommand.warnSkipped(change)
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
