import Foundation
@testable import KithDaemon
import KithNode
import Testing

/// The command line talks only to a control socket that its own user made:
/// a file, or a socket another user put at a configured path, is refused
/// before anything is sent.
@Suite struct ControlClientTests {
    func refusal(_ path: String) async -> String? {
        do {
            _ = try await ControlClient(socket: path, pid: 1).status()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func aSocketNotMadeByThisUserIsRefused() async throws {
        let dir = NSTemporaryDirectory() + "kith-control-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let file = dir + "/file"
        FileManager.default.createFile(atPath: file, contents: Data())
        #expect(await refusal(file)?.contains("is not a socket of yours") == true)

        // A listening socket that another user owns.
        let path = dir + "/s"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0 && listen(fd, 1) == 0)
        // A socket of mine is used (ControlTests); one of another user's is not.
        if geteuid() == 0 {
            try #require(chown(path, 65534, 65534) == 0)
            #expect(await refusal(path)?.contains("is not a socket of yours") == true)
        }
    }
}
