import Foundation
import Hummingbird
import KithNode

/// The node's state in plain words, as `kith status` shows it: relays,
/// queued deliveries and why they wait, envelopes that wait, key rotation.
extension WebRoutes {
    func addStatusRoutes(to router: Router<WebContext>) {
        router.get("/status") { _, context in
            let session = try signedIn(context)
            return templates.response(StatusPageView(csrf: session.csrf, status: try await node.status()))
        }
    }
}
