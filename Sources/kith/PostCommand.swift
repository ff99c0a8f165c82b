import ArgumentParser
import Foundation
import KithDaemon
import KithNode

struct PostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "post",
        abstract: "Post to an audience, with photos or files if you like. Prints the post's id.",
        discussion: """
            The post is signed, padded and encrypted once for the audience, and queued; `kith sync`             uploads it once per relay for all members. Each --photo is read by kith's image             library (JPEG, PNG, WebP; a file it cannot read is refused before anything is stored),             turned the right way up, stripped of its metadata (EXIF, XMP, GPS location, camera;             --keep-metadata keeps it) and given a small thumbnail; each --photo and --file (at most             10 in all, up to 32 MiB each) is encrypted under a key of its own that travels inside             the post, and uploaded once per relay before the post. Relays see only the padded             size. With attachments the text may be left out.
            """
    )

    @OptionGroup var home: HomeOptions

    @Option(help: "The audience to post to.")
    var to: String

    @OptionGroup var attach: AttachmentOptions

    @Argument(help: "The text of the post, or - to read it from standard input (optional with an attachment).")
    var text: String?

    func validate() throws {
        guard text != nil || !attach.isEmpty else { throw ValidationError("give the post's text, a --photo or a --file") }
    }

    func run() async throws {
        let body = try text.map { try Input.argumentOrStandardInput($0, what: "the post") } ?? ""
        let posted = try await home.run(PostRequest(to: to, text: body, attachments: attach.sources, keepMetadata: attach.keepMetadata))
        AttachmentOptions.report(posted.attachments)
        if posted.recipients == 0 { Console.note("\"\(to)\" has no members yet: only you will see this post") }
        Console.out(posted.id)
    }
}

/// `kith sync`: delivers what is queued and fetches what is new, serving
/// every relay at once within a budget per relay (see `RelayBudget`), so a
/// dead or hostile relay delays nothing else. Problems go to stderr, one line
/// each: one per relay whose deliveries wait (naming the friends and the next
/// retry), one per relay that failed, misbehaved or hit its budget.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Deliver what is queued and fetch what is new from every relay.",
        discussion: """
            First, if the schedule says it is time (`kith key schedule`, weekly by default), the \
            encryption key is replaced and an update queued for every friend, and old secrets whose \
            grace period is over are erased from the keystore. \
            Relays are served at the same time, each within a budget (60 s, and for fetching \
            200 batches and 256 MiB); what is left is fetched by the next sync. Exits with status 1 \
            if a relay could not be reached or broke the protocol. What could not be delivered stays \
            queued and is retried by a later sync after a growing delay (5 s doubling to an hour, \
            with jitter); --retry-now tries it at once. A relay that fails is not tried again in the \
            same sync. Photos and files go before the posts they belong to, and a post waits for \
            them; friends' thumbnails are fetched, and their photos and files too unless \
            --fetch-attachments on-demand (then `kith photo get` fetches one when asked); what is \
            fetched by itself from one friend stops at 1 GiB a day, and all of it while less than \
            1 GiB is free on the node's disk (the rest waits for `kith photo get`); blob references \
            on your relays that no attachment of yours waits for are released once a week old. Uploads \
            and downloads show their progress on stderr. \
            --json adds per-relay results ("deliveries", "fetches"). \
            --wait keeps going until interrupted: after each sync it waits for a relay to say that \
            mail has arrived (a long poll on each of your relays), then syncs again.
            """
    )

    @OptionGroup var home: HomeOptions

    @Flag(help: "Print the report as JSON.") var json = false

    @Flag(help: "Retry queued deliveries now, even those whose retry time has not come.") var retryNow = false

    @Flag(help: "After syncing, wait for new mail and sync again, until interrupted.") var wait = false

    @Option(help: ArgumentHelp("Fetch friends' photos and files with this sync (background, the default) or only by `kith photo get` (on-demand). Thumbnails always come.",
                               valueName: "when"))
    var fetchAttachments: AttachmentFetch = .background

    func run() async throws {
        if let daemon = ControlClient.running(home: try home.resolve()) {
            // The daemon syncs by itself, as mail arrives: --wait has nothing to add.
            if wait { Console.note("this node's daemon is running and syncs as mail arrives; syncing once through it") }
            return try Self.show(try await daemon.sync(retryNow: retryNow), json: json)
        }
        var node = try home.unlock()
        node.attachmentFetch = fetchAttachments
        node.transferProgress = TransferLine.report
        guard wait else { return try Self.show(try await node.sync(retryNow: retryNow), json: json) }
        var retryNow = self.retryNow
        let clock = ContinuousClock()
        while true {
            let started = clock.now
            // A failed sync is reported and retried at the next mail or minute, not the end of the loop.
            do { try Self.show(try await node.sync(retryNow: retryNow), json: json) } catch is ExitCode {}
            retryNow = false
            _ = try await node.waitForMail(timeout: .seconds(60))
            // At most one sync a second, even if a relay keeps saying that mail waits.
            try await Task.sleep(until: started + .seconds(1), clock: clock)
        }
    }

    /// Prints a sync's report; exits 1 if deliveries wait or a fetch failed.
    static func show(_ report: SyncReport, json: Bool) throws {
        if report.rotatedEncryptionKey { Console.note("replaced the encryption key, as scheduled; friends get the new one with this sync") }
        if report.erasedEncryptionKeys > 0 {
            Console.note("erased \(report.erasedEncryptionKeys) old encryption \(report.erasedEncryptionKeys == 1 ? "secret" : "secrets") whose grace period was over")
        }
        for problem in report.problems { Console.warning(report.repeats[problem].map { "\(problem) (\($0) times)" } ?? problem) }
        for reason in report.waitingReasons { Console.note(reason) }
        if report.expired > 0 {
            Console.note("dropped \(report.expired) \(report.expired == 1 ? "envelope" : "envelopes") that waited 30 days for a key or sender that never came")
        }
        if report.deferred > 0, let next = report.nextRetryAt {
            let when = Date(timeIntervalSince1970: TimeInterval(next)).formatted(.iso8601)
            Console.note("\(report.deferred) queued \(report.deferred == 1 ? "delivery waits" : "deliveries wait") to retry at \(when); --retry-now tries at once")
        }
        if json {
            try Console.json(report)
        } else {
            Console.out("delivered \(report.delivered), fetched \(report.fetched), new posts \(report.newPosts), "
                + "new audience keys \(report.newAudienceKeys), waiting \(report.waiting), refused \(report.rejected), expired \(report.expired)")
        }
        if report.retrying > 0 || report.fetchFailures > 0 { throw ExitCode(1) }
    }
}
