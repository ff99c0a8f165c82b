import Foundation

/// Output conventions: results for scripts on stdout, everything else on stderr.
enum Console {
    static func out(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func error(_ message: String, hint: String? = nil) {
        FileHandle.standardError.write(Data("kith: error: \(message)\n".utf8))
        if let hint { FileHandle.standardError.write(Data("kith: hint: \(hint)\n".utf8)) }
    }

    static func warning(_ message: String) {
        FileHandle.standardError.write(Data("kith: warning: \(message)\n".utf8))
    }

    static func note(_ message: String) {
        FileHandle.standardError.write(Data("kith: \(message)\n".utf8))
    }

    static func json(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        out(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}
