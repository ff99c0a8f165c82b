import ArgumentParser
import Foundation
import KithDaemon
import KithNode

/// `kith dm FRIEND TEXT`: a post to an audience of two.
struct DirectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dm",
        abstract: "Send a direct message to a friend. Prints its id.",
        discussion: """
            The message is a post to your direct audience with the friend: made at your first \
            message to them, it has them as its only member and its key says so, so their node \
            files it as a conversation between the two of you (`kith chat`). Nobody else holds \
            the key: nobody else can read it, even given the envelopes, nor comment on or react \
            to it; the friend answers with `kith dm` too. `kith sync` delivers it. --photo and --file \
            attach photos (their metadata removed unless --keep-metadata) and files, as `kith post` does; \
            the text may then be left out.
            """
    )

    @OptionGroup var home: HomeOptions

    @Argument(help: "The friend, by the name `kith friend list` shows.") var friend: String

    @OptionGroup var attach: AttachmentOptions

    @Argument(help: "The text of the message, or - to read it from standard input (optional with an attachment).") var text: String?

    func validate() throws {
        guard text != nil || !attach.isEmpty else { throw ValidationError("give the message's text, a --photo or a --file") }
    }

    func run() async throws {
        let body = try text.map { try Input.argumentOrStandardInput($0, what: "the message") } ?? ""
        let sent = try await home.run(DirectRequest(friend: friend, text: body, attachments: attach.sources, keepMetadata: attach.keepMetadata))
        AttachmentOptions.report(sent.attachments)
        Console.out(sent.id)
    }
}

/// `kith chat FRIEND`: the direct conversation with a friend, both directions.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Show your direct messages with a friend, both directions, oldest first.",
        discussion: """
            Messages not shown before (by `kith chat` or `kith feed`) are marked "(new)", and count \
            as read from then on, with --json too. Times are local. --json prints an array of \
            {id, author, outgoing, text, created_at, received_at, misdated, unread, edited, attachments}: times in ISO 8601 \
            UTC, outgoing true for your own messages, unread true for a friend's message not shown before. \
            Messages are in the feed's order: a message dated ahead or long ago shows "(arrived ...)" and \
            sits where it arrived.
            """
    )

    @OptionGroup var home: HomeOptions

    @Argument(help: "The friend, by the name `kith friend list` shows.") var friend: String

    @Flag(help: "Print the messages as JSON.") var json = false

    @Option(help: "Show at most this many messages, the newest.") var limit = 100

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    func run() async throws {
        let messages = try await home.run(ChatRequest(friend: friend, limit: limit))
        if json { return try Console.json(messages) }
        if messages.isEmpty { Console.note("no direct messages with \(friend) yet; send one with `kith dm \(ShellWord.quoted(friend)) TEXT`") }
        for message in messages {
            // "you" for mine: a friend's name, escaped like any other, cannot pass for it.
            let who = message.outgoing ? "you" : VerifiedMark.name(message.author, verified: false)
            Console.out(wrapping: "\(who)  \(ThreadLines.dates(message.createdAt, message.receivedAt, misdated: message.misdated))"
                        + (message.edited ? "  (edited)" : "") + (message.unread ? "  (new)" : ""), indent: "    ", first: "")
            ThreadLines.text(message.text, indent: "    ")
            ThreadLines.attachments(message.attachments, indent: "    ")
        }
    }
}
