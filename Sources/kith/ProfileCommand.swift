import ArgumentParser
import Foundation
import KithDaemon
import KithNode

/// `kith profile set|show`: the name, bio (and later avatar) I show my
/// friends, and theirs.
struct ProfileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Set your profile (a name and a short bio) for your friends, or show yours or a friend's.",
        discussion: """
            A profile is signed by you and sent to each friend sealed to their encryption key: \
            relays see only an envelope of one fixed size. A friend added later gets your current \
            profile when you become friends. A friend's profile name is shown beside the name you \
            gave them, e.g. bob (calls themself "Robert Smith"), never instead of it: a friend \
            cannot take someone else's name in your feed.
            """,
        subcommands: [SetProfile.self, ShowProfile.self]
    )

    /// A friend's local name with the verified mark, then their profile's name beside it.
    static func shown(_ name: String, verified: Bool, profileName: String?) -> String {
        let mine = VerifiedMark.name(name, verified: verified)
        guard let profileName, profileName != name else { return mine }
        return "\(mine) (calls themself \"\(VerifiedMark.name(profileName, verified: false))\")"
    }

    struct SetProfile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Make a new profile and queue it for every friend.",
            discussion: """
                What you leave out stays as it was. Each change replaces the profile your friends \
                have (it carries a higher sequence number). `kith sync` (or the daemon) sends it.
                """
        )

        @OptionGroup var home: HomeOptions

        @Option(help: ArgumentHelp("The name you call yourself, 1 to 64 bytes; \"\" removes it.", valueName: "name"))
        var name: String?

        @Option(help: ArgumentHelp("A few words about you: up to 500 bytes, new lines allowed; \"\" removes it; - reads it from standard input.",
                                   valueName: "text"))
        var bio: String?

        @Option(help: ArgumentHelp("A photo for your friends to see beside your name (not available yet).", valueName: "file"))
        var avatar: String?

        func validate() throws {
            guard avatar == nil else { throw ValidationError("--avatar: avatars are not built yet") }
            guard name != nil || bio != nil else { throw ValidationError("give --name, --bio or both") }
        }

        func run() async throws {
            let text = try bio.map { try Input.argumentOrStandardInput($0, what: "the bio") }
            let sent = try await home.run(ProfileSetRequest(name: name, bio: text))
            Console.note("profile \(sent.sequence) queued for \(sent.queuedFor) \(sent.queuedFor == 1 ? "friend" : "friends"): `kith sync` sends it")
            if !sent.skipped.isEmpty {
                Console.warning("not sent to \(sent.skipped.joined(separator: ", ")): no valid encryption key of theirs; they get your next profile")
            }
        }
    }

    struct ShowProfile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show your profile, or the one a friend sent you.",
            discussion: "A friend's profile is shown under the name you gave them, with theirs beside it."
        )

        @OptionGroup var home: HomeOptions

        @Argument(help: "The friend, by the name `kith friend list` shows; none: your own profile.")
        var friend: String?

        @Flag(help: "Print JSON: {friend (absent for your own), fingerprint, sequence, name (absent if none), bio, created_at}.")
        var json = false

        func run() async throws {
            let profile = try await home.run(ProfileShowRequest(friend: friend))
            if json { return try Console.json(profile) }
            if let friend = profile.friend {
                Console.out(ProfileCommand.shown(friend, verified: false, profileName: profile.name))
            } else {
                Console.out(profile.name.map { "you (calls yourself \"\($0)\")" } ?? "you (no name in your profile)")
            }
            Console.out("  fingerprint \(profile.fingerprint)")
            Console.out("  profile \(profile.sequence)")
            for line in profile.bio.split(separator: "\n", omittingEmptySubsequences: false) where !profile.bio.isEmpty {
                Console.out(wrapping: String(line), indent: "  ")
            }
        }
    }
}
