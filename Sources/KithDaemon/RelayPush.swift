import KithNode

/// Push from the node's own relays: their long poll for mail
/// (`Node.waitForMail`, docs/PROTOCOL.md "Waiting for mail"). It returns as
/// soon as a relay says mail waits; a relay that is down or has no such
/// endpoint is retried with backoff inside, while the daemon goes on polling.
public struct RelayPush: MailSignal {
    let node: Node

    public init(node: Node) { self.node = node }

    public func waitForMail() async throws {
        while try await node.waitForMail(timeout: .seconds(300)).isEmpty {
            try Task.checkCancellation()
        }
    }
}
