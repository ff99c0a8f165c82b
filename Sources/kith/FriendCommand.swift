import ArgumentParser
import Foundation
import KithDaemon
import KithNode

struct FriendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "friend",
        abstract: "Add, list, verify and replace friends; answer friend requests.",
        subcommands: [Add.self, Remove.self, List.self, Verify.self, Replace.self, Requests.self, Accept.self, Decline.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a friend from their contact card or a friend invitation (checks its signature).",
            discussion: """
                Takes a card (kith-card:..., from `kith card`) or an invitation (kith-invite:..., from \
                `kith invite`). The text may be pasted as a mail brings it: quoted with "> ", wrapped over \
                several lines, with words around it. An invitation works once: the card it stands for is \
                taken from your friend's relay, they become your friend, and a friend request with your own \
                card is queued for them (`kith sync` sends it; a running daemon at once); they see it with \
                `kith friend requests`. \
                Prints the friend's name, their fingerprint on the next line, then your own fingerprint and the safety number you \
                share: compare them with your friend by another channel (`kith friend verify`). \
                A card or invitation naming a relay on a loopback, private, link-local, multicast or other \
                non-public address (or localhost) \
                is refused unless that relay is one of yours; set KITH_ALLOW_LOCAL_RELAYS=1 to accept it anyway. \
                A card with a new identity that claims the name of a friend you know is refused: it may be an \
                impostor. Only `kith friend replace NAME CARD` replaces a friend's identity.
                """
        )

        @OptionGroup var home: HomeOptions

        @Option(name: .customLong("as"), help: "The name to know this friend by (default: the name in the card).")
        var localName: String?

        @Argument(help: "The contact card (kith-card:...) or invitation (kith-invite:...), or - to read it from standard input.")
        var card: String

        func run() async throws {
            let text = try Input.argumentOrStandardInput(card, what: "the card")
            let added = try await home.run(FriendAddRequest(card: text, localName: localName, allowLocalRelays: Input.allowLocalRelays))
            Friends.show(added)
            if added.requestQueued {
                Console.note("your friend request to \(added.friend.name) is queued: `kith sync` sends it")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop being friends: remove a friend from every audience and revoke their drop tokens.",
            discussion: """
                Every audience they were in gets a new key, sent only to the others by `kith sync`: they keep the \
                posts they already have and cannot read anything you post from now on. Nothing more is sent to them. \
                The drop tokens of the cards you gave them with `kith card --for NAME` are revoked at your relays, so \
                your mailboxes refuse what they send from now on; a card given without --for cannot be told apart \
                and keeps working. If a relay cannot be reached, run the command again later to finish revoking.
                """
        )
        @OptionGroup var home: HomeOptions
        @Argument(help: "The friend, by the name `kith friend list` shows (or the name given to `kith card --for`).") var friend: String

        func run() async throws {
            let done = try await home.run(FriendRemoveRequest(friend: friend))
            if !done.audiences.isEmpty {
                let list = done.audiences.map { "\"\($0)\"" }.joined(separator: ", ")
                Console.note("removed \(friend) from \(list): they keep the posts they already have and cannot read anything you post there from now on")
            }
            Console.note("\(friend) is no longer your friend: nothing more is sent to them; revoked \(done.revoked) drop \(done.revoked == 1 ? "token" : "tokens")")
            if done.revoked == 0 && done.failures.isEmpty {
                Console.note("no card was issued with --for \(friend): any card you gave them still lets them drop into your mailboxes")
            }
            for failure in done.failures { Console.warning("could not revoke a token now (\(failure)); run `kith friend remove \(ShellWord.quoted(friend))` again later") }
            if !done.failures.isEmpty { throw ExitCode(1) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List friends with their fingerprints.",
            discussion: """
                \(VerifiedMark.mark) after a name marks a friend you verified with `kith friend verify NAME --confirm`. \
                The name a friend gives themself in their profile (`kith profile`) is shown beside yours for them, \
                e.g. bob (calls themself "Robert Smith"), never instead of it.
                """
        )

        @OptionGroup var home: HomeOptions

        @Flag(help: "Print a JSON array of {name, fingerprint, card_name, profile_name (absent if none), relays, verified}.")
        var json = false

        func run() async throws {
            let friends = try await home.run(FriendListRequest())
            if json { return try Console.json(friends) }
            for f in friends { Console.out("\(ProfileCommand.shown(f.name, verified: f.verified, profileName: f.profileName))  \(f.fingerprint)") }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the safety number you share with a friend; --confirm marks them verified.",
            discussion: """
                The safety number covers your identity and your friend's, and is the same on both sides: your \
                friend runs `kith friend verify` with your name and reads theirs. Compare it in person or by a \
                call, not by a message an impostor could send. If it matches, run again with --confirm; \
                `kith friend list` and `kith feed` then show \(VerifiedMark.mark) after their name. If it does not \
                match, one of the two cards is not what it claims: do not confirm.
                """
        )

        @OptionGroup var home: HomeOptions

        @Argument(help: "The friend, by the name `kith friend list` shows.")
        var friend: String

        @Flag(help: "Mark the friend verified: you compared the safety number and it matched.")
        var confirm = false

        @Flag(help: "Mark the friend not verified any more.")
        var clear = false

        func validate() throws {
            guard !(confirm && clear) else { throw ValidationError("--confirm and --clear cannot be used together") }
        }

        func run() async throws {
            let shown = try await home.run(FriendVerifyRequest(friend: friend, mark: confirm || clear ? confirm : nil))
            Console.out(shown.number)
            if confirm || clear {
                Console.note(confirm ? "marked \(friend) verified" : "marked \(friend) not verified")
            } else if shown.friend.verified {
                Console.note("\(friend) is verified; on their side, `kith friend verify` with your name shows the same number")
            } else {
                Console.note("compare these digits with \(friend), in person or by a call: on their side, `kith friend verify` "
                    + "with your name shows the same. If they match, run: kith friend verify \(friend) --confirm")
            }
        }
    }

    struct Replace: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace a friend's identity by the one in a new card, when they made a new identity.",
            discussion: """
                Use it only after checking with your friend, in person or by a call, that the card is theirs \
                (compare its fingerprint). The old identity stops being your friend: nothing new is sent to it \
                and it leaves your audiences, but it keeps the audience keys it already received; nothing new \
                from it is shown, and its posts already in your feed stay, under an unknown author. The new \
                identity takes the same name, is not verified, and is in no audience until you add it.
                """
        )

        @OptionGroup var home: HomeOptions

        @Argument(help: "The friend to replace, by the name `kith friend list` shows.")
        var friend: String

        @Argument(help: "The new contact card (kith-card:...), or - to read it from standard input.")
        var card: String

        func run() async throws {
            let text = try Input.argumentOrStandardInput(card, what: "the card")
            let done = try await home.run(FriendReplaceRequest(friend: friend, card: text, allowLocalRelays: Input.allowLocalRelays))
            Console.out("\(done.friend.name)  \(done.friend.fingerprint)")
            Console.note("replaced the old identity of \(friend) (fingerprint \(done.oldFingerprint)): it is no longer your friend; "
                + "nothing new is sent to it or shown from it")
            if !done.removedFromAudiences.isEmpty {
                let list = done.removedFromAudiences.map { "\"\($0)\"" }.joined(separator: ", ")
                Console.note("the old identity left \(list), which got new keys: it keeps what it already received and cannot read anything "
                    + "you post there from now on. To add the new identity: kith group add AUDIENCE \(friend)")
            }
            Console.note("\(friend) is not verified: compare safety numbers with `kith friend verify \(ShellWord.quoted(friend))`")
        }
    }
}

extension FriendCommand {
    struct Requests: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the friend requests that answer your invitations.",
            discussion: """
                Each request came from someone who used one of your invitations (`kith invite`), after \
                `kith sync` fetched it. Shown: the name in their card and, on lines of their own, their \
                fingerprint, the safety number you would share, and the invitation it answers (the id \
                `kith invite` printed). Accept with \
                `kith friend accept NAME`, refuse with `kith friend decline NAME`. \
                --json prints an array of {name, fingerprint, safety_number, invitation, received_at}, \
                received_at in ISO 8601 UTC. A request left waiting 30 days is declined by `kith sync`.
                """
        )

        @OptionGroup var home: HomeOptions

        @Flag(help: "Print a JSON array of {name, fingerprint, safety_number, invitation, received_at}.")
        var json = false

        func run() async throws {
            let requests = try await home.run(FriendRequestsRequest())
            if json { return try Console.json(requests) }
            if requests.isEmpty { return Console.note("no friend requests: `kith sync` fetches new ones") }
            for r in requests {
                Friends.showIdentity(name: r.name, fingerprint: r.fingerprint)
                Console.out("  safety number \(r.safetyNumber), invitation \(r.invitation)")
            }
        }
    }

    struct Accept: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Accept a friend request: its sender becomes your friend.",
            discussion: """
                Their card came with the request, so nothing more is exchanged. Compare the safety number \
                with them by another channel, then run `kith friend verify NAME --confirm`. \
                `kith friend remove NAME` later revokes the drop token your invitation gave them.
                """
        )

        @OptionGroup var home: HomeOptions

        @Option(name: .customLong("as"), help: "The name to know this friend by (default: the name in their card).")
        var localName: String?

        @Argument(help: "The request, by the name `kith friend requests` shows (or its fingerprint, if two share a name).")
        var requester: String

        func run() async throws {
            Friends.show(try await home.run(FriendAcceptRequest(requester: requester, localName: localName, allowLocalRelays: Input.allowLocalRelays)))
        }
    }

    struct Decline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decline a friend request, and revoke the drop token your invitation gave its sender.",
            discussion: "If a relay cannot be reached, the request is kept: run the command again later to finish revoking."
        )

        @OptionGroup var home: HomeOptions

        @Argument(help: "The request, by the name `kith friend requests` shows (or its fingerprint, if two share a name).")
        var requester: String

        func run() async throws {
            let done = try await home.run(FriendDeclineRequest(requester: requester))
            for failure in done.failures {
                Console.warning("could not revoke a token now (\(failure)); run `kith friend decline \(ShellWord.quoted(requester))` again later")
            }
            if done.failures.isEmpty {
                Console.note("declined the request from \(requester); revoked \(done.revoked) drop \(done.revoked == 1 ? "token" : "tokens")")
            }
            if !done.failures.isEmpty { throw ExitCode(1) }
        }
    }
}

/// How a friend just added is shown.
enum Friends {
    static func show(_ added: FriendAdded) {
        showIdentity(name: added.friend.name, fingerprint: added.friend.fingerprint)
        Console.note("your fingerprint is \(added.myFingerprint); your safety number with \(added.friend.name) is \(added.safetyNumber)")
        Console.note("compare them with \(added.friend.name) in person or by a call, then: kith friend verify \(added.friend.name) --confirm")
    }

    /// A name from a card, then its fingerprint on a line of its own: a
    /// name that looks like a fingerprint cannot pass for the real one.
    static func showIdentity(name: String, fingerprint: String) {
        Console.out(VerifiedMark.name(name, verified: false))
        Console.out("  fingerprint \(fingerprint)")
    }
}

/// The mark `kith friend list` and `kith feed` print after the name of a
/// verified friend. Names are others' text, so a check mark, or a character
/// that could pass for one, inside a name is shown escaped as `\u{HEX}`:
/// only kith itself prints the mark, and a card named "bob ✓" cannot look
/// verified.
enum VerifiedMark {
    static let mark = "✓"
    private static let lookalikes: Set<Unicode.Scalar> = ["\u{2713}", "\u{2714}", "\u{2705}", "\u{2611}", "\u{221A}", "\u{1F5F8}"]

    /// `name` with look-alikes of the mark escaped, then the mark if `verified`.
    static func name(_ name: String, verified: Bool) -> String {
        var shown = String.UnicodeScalarView()
        for scalar in name.unicodeScalars {
            if lookalikes.contains(scalar) {
                shown.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            } else {
                shown.append(scalar)
            }
        }
        return verified ? "\(String(shown)) \(mark)" : String(shown)
    }
}
