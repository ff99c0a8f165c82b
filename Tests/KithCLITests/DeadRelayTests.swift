import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// A TCP listener on 127.0.0.1 that counts the connections made to it and
/// closes each at once, like a relay that is down behind a live address.
final class ConnectionCounter: @unchecked Sendable {
    private let socketFD: Int32
    private let lock = NSLock()
    private var accepted = 0

    struct Failure: Error { let message: String }

    init(port: Int) throws {
        socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { throw Failure(message: "socket failed") }
        var one: Int32 = 1
        setsockopt(socketFD, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(socketFD, 64) == 0 else {
            close(socketFD)
            throw Failure(message: "cannot listen on port \(port)")
        }
        let fd = socketFD
        Thread.detachNewThread { [self] in
            while true {
                let connection = accept(fd, nil, nil)
                if connection < 0 {
                    if errno == EINTR { continue }
                    return
                }
                lock.withLock { accepted += 1 }
                close(connection)
            }
        }
    }

    /// Connections accepted so far. A client sees its connection closed only
    /// after it was counted, so once `kith` has exited the count is complete.
    var count: Int { lock.withLock { accepted } }

    func stop() {
        shutdown(socketFD, Int32(SHUT_RDWR))
        close(socketFD)
    }
}

/// One friend's relay is down: a sync tries it once, not once per queued
/// delivery, and says in one line whose deliveries wait and until when.
@Suite(.serialized) struct DeadRelayTests {
    @Test func aDeadRelayIsTriedOncePerSyncAndNamedOnce() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let friendsRelay = try RelayProcess(home: dir + "/friends-relay")
        let alice = dir + "/alice"
        try kithOK(["init", "--home", alice, "--name", "alice", "--relay", relay.url])
        for name in ["bob", "carol"] {
            try kithOK(["init", "--home", "\(dir)/\(name)", "--name", name, "--relay", friendsRelay.url])
            // Their relay is on 127.0.0.1 but not alice's: she accepts it explicitly.
            try kithOK(["friend", "add", "--home", alice, try kithOK(["card", "--home", "\(dir)/\(name)"])], env: ["KITH_ALLOW_LOCAL_RELAYS": "1"])
        }
        // bob's and carol's relay goes down; its address now only accepts and closes connections.
        let deadURL = friendsRelay.url, port = friendsRelay.port
        #expect(friendsRelay.stop() == 0)
        let counter = try ConnectionCounter(port: port)
        defer { counter.stop() }

        try kithOK(["group", "create", "--home", alice, "family", "--hide-members"])
        for name in ["bob", "carol"] { try kithOK(["group", "add", "--home", alice, "family", name]) }
        for n in 1...3 { try kithOK(["post", "--home", alice, "--to", "family", "post \(n)"]) }

        // Six jobs for the dead relay: three key messages (adding carol starts a new epoch, sent to both) and three posts.
        let first = try kith(["sync", "--home", alice, "--retry-now"])
        #expect(first.status == 1)
        #expect(first.stdout.hasPrefix("delivered 0,"))
        let lines = first.stderr.split(separator: "\n").filter { $0.contains(deadURL) }
        #expect(lines.count == 1, "stderr: \(first.stderr)")
        let line = String(lines.first ?? "")
        #expect(line.hasPrefix("kith: warning: delivery to \(deadURL) failed (relay unreachable): 6 deliveries for bob, carol wait; next retry at 20"),
                "stderr: \(first.stderr)")
        #expect(line.hasSuffix("Z"))
        #expect(counter.count == 1)

        let second = try kith(["sync", "--home", alice, "--retry-now", "--json"])
        #expect(second.status == 1)
        #expect(counter.count == 2)
        struct Report: Decodable {
            struct Delivery: Decodable { let relay: String; let waiting: Int; let friends: [String]; let nextRetryAt: UInt64? }
            let deliveries: [Delivery]
            let retrying: Int
        }
        let report = try JSONDecoder().decode(Report.self, from: Data(second.stdout.utf8))
        #expect(report.retrying == 6)
        #expect(report.deliveries.count == 1)
        #expect(report.deliveries.first?.relay == deadURL && report.deliveries.first?.friends == ["bob", "carol"])
        #expect(report.deliveries.first?.waiting == 6 && report.deliveries.first?.nextRetryAt != nil)
        relay.stop()
    }
}
