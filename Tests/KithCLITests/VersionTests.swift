import Foundation
import Testing

/// `kith --version` names the release and the protocol version it speaks
/// (the version byte of every envelope), for scripts and bug reports.
@Suite struct VersionTests {
    @Test func versionNamesTheReleaseAndTheProtocol() throws {
        let r = try kith(["--version"], passphrase: nil)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.wholeMatch(of: /kith \d+\.\d+\.\d+ \(protocol 1\)\n/) != nil, "\(r.stdout)")
        #expect(r.stderr.isEmpty)
        #expect(try kithOK(["--help"], passphrase: nil).contains("--version"))
    }
}
