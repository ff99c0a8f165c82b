import Foundation
import KithNode

/// Input from the command line that may stand for standard input.
enum Input {
    /// The most read from standard input: far above a card or the longest post,
    /// so that piping in something else cannot grow memory without bound.
    static let maxStandardInput = 1 << 20

    /// `argument`, or all of standard input when it is `-` (at most `maxStandardInput` bytes).
    static func argumentOrStandardInput(_ argument: String, what: String) throws -> String {
        guard argument == "-" else { return argument }
        var data = Data()
        while data.count <= maxStandardInput {
            let chunk = FileHandle.standardInput.readData(ofLength: 64 << 10)
            if chunk.isEmpty { break }
            data.append(chunk)
        }
        guard data.count <= maxStandardInput else { throw NodeError("\(what) on standard input is larger than 1 MiB") }
        return String(decoding: data, as: UTF8.self)
    }

    /// Whether the user accepts cards naming relays on a local network (`KITH_ALLOW_LOCAL_RELAYS=1`).
    static var allowLocalRelays: Bool { ProcessInfo.processInfo.environment["KITH_ALLOW_LOCAL_RELAYS"] == "1" }
}
