import Foundation
import KithCrypto
import KithNode

/// Where the keystore passphrase comes from, in order: `KITH_PASSPHRASE`,
/// the first line of the file named by `KITH_PASSPHRASE_FILE` (which must be
/// the user's own and private to them), or a prompt on the terminal with echo
/// turned off.
enum Passphrase {
    static func obtain(confirm: Bool) throws -> [UInt8] {
        let env = ProcessInfo.processInfo.environment
        if let value = env["KITH_PASSPHRASE"] {
            guard !value.isEmpty else { throw NodeError("KITH_PASSPHRASE is empty") }
            return Array(value.utf8)
        }
        if let path = env["KITH_PASSPHRASE_FILE"] {
            // Like the keystore: a passphrase file other users could read, or that
            // another user could have written, is refused before it is read.
            var bytes = try SecureFile.readPrivate(path, what: "KITH_PASSPHRASE_FILE", missingHint: "check KITH_PASSPHRASE_FILE")
            defer { KithCrypto.wipe(&bytes) }
            let line = Array(bytes.prefix { $0 != 0x0a && $0 != 0x0d })
            guard !line.isEmpty else { throw NodeError("KITH_PASSPHRASE_FILE \(path) has an empty first line") }
            return line
        }
        var first = try prompt("Passphrase: ")
        if confirm {
            var second = try prompt("Passphrase again: ")
            defer { KithCrypto.wipe(&second) }
            guard constantTimeEqual(first, second) else {
                KithCrypto.wipe(&first)
                throw NodeError("the passphrases do not match")
            }
        }
        guard !first.isEmpty else { throw NodeError("the passphrase must not be empty") }
        return first
    }

    /// Reads one line from /dev/tty without echo; `noTerminal` is thrown when there is none to ask on.
    static func prompt(_ text: String, noTerminal: NodeError = NodeError("no passphrase: there is no terminal to ask on",
                                                                         hint: "set KITH_PASSPHRASE or KITH_PASSPHRASE_FILE")) throws -> [UInt8] {
        let fd = open("/dev/tty", O_RDWR)
        guard fd >= 0 else { throw noTerminal }
        defer { close(fd) }
        var old = termios()
        let isTerminal = tcgetattr(fd, &old) == 0
        if isTerminal {
            var silent = old
            silent.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(fd, TCSAFLUSH, &silent)
        }
        defer { if isTerminal { var restore = old; tcsetattr(fd, TCSAFLUSH, &restore) } }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1, byte != 0x0a, byte != 0x0d { line.append(byte) }
        _ = write(fd, "\n", 1)
        return line
    }
}
