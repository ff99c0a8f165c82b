import Synchronization

/// Where the web app listens, once it does: the port the socket got (the
/// configured one, or the one the system picked for port 0), and so the
/// one `Host` header it answers.
final class WebListener: Sendable {
    /// The app's own host name (`WebHostName`).
    let name: String
    private let state = Mutex<(port: Int?, failure: String?)>((nil, nil))

    init(name: String) { self.name = name }

    var port: Int? { state.withLock { $0.port } }
    var failure: String? { state.withLock { $0.failure } }

    func listening(port: Int) { state.withLock { $0 = (port, nil) } }
    func failed(_ why: String) { state.withLock { $0 = (nil, why) } }

    /// The one `Host` value a request may carry (lower case), `NAME.localhost:PORT`.
    var host: String? { port.map { "\(name):\($0)" } }
    /// `http://NAME.localhost:PORT`: the app's address, and the `Origin` of its pages.
    var base: String? { host.map { "http://" + $0 } }
}
