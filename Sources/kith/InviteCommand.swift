import ArgumentParser
import Foundation
import KithDaemon
import KithNode
import KithProtocol

/// `kith invite`: a one-paste friend invitation.
struct InviteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invite",
        abstract: "Print a friend invitation: one short line a friend pastes into `kith friend add`.",
        discussion: """
            Your contact card, issued for this invitation, is sealed under a key the invitation carries \
            and kept on your first relay, which sees only ciphertext. The invitation works once, until \
            it expires: your friend's `kith friend add INVITATION` takes the card (the relay then forgets \
            it), adds you, and sends you a friend request with their own card. After `kith sync`, \
            `kith friend requests` lists it; `kith friend accept NAME` makes them your friend, \
            `kith friend decline NAME` refuses them. Send each invitation to one person only, by a \
            channel you trust: whoever uses it first can ask to be your friend. This is not \
            `kith relay invite`, which lets someone register a mailbox on a relay you run. \
            --json prints {invitation, id, relay, expires_at}, expires_at in ISO 8601 UTC.
            """
    )

    @OptionGroup var home: HomeOptions

    @Option(help: ArgumentHelp("How long the invitation works: a number and s, m, h or d (at most 30d, and what your relay allows: 7d by default).",
                               valueName: "duration"))
    var expires = "3d"

    @Flag(help: "Print a JSON object {invitation, id, relay, expires_at}.")
    var json = false

    func validate() throws {
        guard Self.seconds(expires) != nil else { throw ValidationError("--expires must be a number and s, m, h or d, such as 30m or 3d") }
    }

    func run() async throws {
        let made = try await home.run(InviteRequest(lifetime: Self.seconds(expires) ?? 0))
        if json { return try Console.json(made) }
        Console.out(made.invitation)
        Console.note("send it to one friend: it works once, until \(ThreadLines.local(made.expiresAt)) (invitation \(made.id)); "
            + "once they have added it, `kith sync` and `kith friend requests` show their request")
    }

    /// Seconds in a duration such as `90s`, `30m`, `24h` or `7d`; nil if it is not one.
    static func seconds(_ text: String) -> UInt64? {
        guard let unit = text.last, let multiplier: UInt64 = ["s": 1, "m": 60, "h": 3600, "d": 86_400][unit] else { return nil }
        let digits = text.dropLast()
        guard (1...6).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt64(digits), n > 0 else { return nil }
        return n * multiplier
    }
}
