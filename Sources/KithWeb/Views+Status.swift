import Foundation
import KithNode

struct StatusPageView: Page {
    static let template = "status"
    let title = "Status"
    let csrf: String
    let signedIn = true
    let name: String
    let fingerprint: String
    let relays: [RelayRow]
    let queued: [String]
    let waiting: [String]
    let unread: String
    let outbox: String
    let rotation: String

    struct RelayRow {
        let relay: String
        let mine: Bool
        let synced: String
        let error: String?
    }

    init(csrf: String, status: NodeStatus) {
        self.csrf = csrf
        (name, fingerprint) = (status.name, status.fingerprint)
        relays = status.relays.map { relay in
            RelayRow(relay: relay.relay, mine: relay.mine,
                     synced: relay.lastSuccessAt.map { "reached: last synced " + Self.time($0) } ?? "never synced yet",
                     error: relay.lastError.map { error in "last error" + (relay.lastErrorAt.map { " " + Self.time($0) } ?? "") + ": " + error })
        }
        queued = status.queued.map { queued in
            (queued.count == 1 ? "1 delivery" : "\(queued.count) deliveries") + " for " + (queued.friend ?? "mailboxes of no friend now")
                + " on " + queued.relay + ", next attempt " + Self.time(queued.nextAttemptAt) + ": "
                + (queued.lastError.map { "the last attempt failed: " + $0 } ?? "not tried yet")
        }
        waiting = status.pending.map { pending in
            "\(pending.count) fetched " + (pending.count == 1 ? "envelope waits" : "envelopes wait") + ": " + pending.reason
                + " (since " + Self.time(pending.oldestReceivedAt) + ")"
        }
        unread = status.unread == 1 ? "1 post not shown yet" : "\(status.unread) posts not shown yet"
        outbox = "\(status.outbox.queued) queued, \(status.outbox.refused) refused by a relay, \(status.outbox.expired) given up after the age limit"
        rotation = "Your encryption key is replaced every \(status.rotation.everyDays) days, next at the first sync after "
            + Self.time(status.rotation.nextAt) + "; old secrets are kept \(status.rotation.graceDays) days, so what friends sent "
            + "with the old key can still be read."
    }

    /// Unix seconds as `2026-11-26 10:41 UTC`.
    static func time(_ seconds: UInt64) -> String {
        PostView.when(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(min(seconds, 253_402_300_799)))))
    }
}

/// The first steps a node without friends sees on the feed.
struct Onboarding {
    let name: String
    /// Whether the node keeps a mailbox on a relay.
    let hasRelay: Bool

    init(_ status: NodeStatus) {
        name = status.name
        hasRelay = status.relays.contains { $0.mine }
    }
}
