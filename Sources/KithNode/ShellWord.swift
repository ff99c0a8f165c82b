import Foundation

/// Text put in a command that Kith tells its owner to run: a friend's name
/// is theirs to choose, and must not become shell syntax when pasted.
public enum ShellWord {
    static let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/@%+=".unicodeScalars)

    /// `text` as one word for a POSIX shell: as it is when it holds only
    /// ASCII letters, digits and `-_.,:/@%+=`; else in single quotes, each
    /// single quote in it written `'\''`.
    public static func quoted(_ text: String) -> String {
        if !text.isEmpty, text.unicodeScalars.allSatisfy(plain.contains) { return text }
        return "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}
