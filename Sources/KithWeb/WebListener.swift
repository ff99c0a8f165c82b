import Synchronization

/// Where the web app listens, once it does: the port the socket got (the
/// configured one, or the one the system picked for port 0), and so the
/// `Host` headers it answers.
final class WebListener: Sendable {
    private let state = Mutex<(port: Int?, base: String?, failure: String?)>((nil, nil, nil))

    var port: Int? { state.withLock { $0.port } }
    /// `http://HOST:PORT`, the host as configured (127.0.0.1, localhost or [::1]).
    var base: String? { state.withLock { $0.base } }
    var failure: String? { state.withLock { $0.failure } }

    func listening(host: String, port: Int) {
        let shown = host.contains(":") ? "[\(host)]" : host
        state.withLock { $0 = (port, "http://\(shown):\(port)", nil) }
    }
    func failed(_ why: String) { state.withLock { $0 = (nil, nil, why) } }

    /// The `Host` values a request may carry, lower case.
    var hosts: [String] {
        guard let port else { return [] }
        return ["127.0.0.1:\(port)", "localhost:\(port)", "[::1]:\(port)"]
    }
}
