import Foundation

/// Output conventions: results for scripts on stdout, everything else on stderr.
///
/// Much of what kith prints came from someone else: a friend's post text,
/// names and relay URLs from cards, a relay's error text. A terminal obeys
/// control characters, so every line printed here goes through `visible(_:)`
/// first: one call prints exactly one line, and nothing in it can move the
/// cursor, recolour or retitle the terminal, or reorder what is shown. Only
/// `json(_:)` prints text exactly, for scripts.
enum Console {
    static func out(_ line: String) {
        write(visible(line) + "\n", to: .standardOutput)
    }

    /// Text others wrote, as lines that start with `indent` and fit the
    /// terminal: escaped first, then cut so that no line is wider than the
    /// terminal, whose own wrapping would otherwise start the rest at column
    /// 0, where it could pass for a line of kith's own. Widths are counted
    /// generously (2 columns for anything outside ASCII, 8 for a tab), so a
    /// line may be cut early but never runs over.
    static func out(wrapping text: String, indent: String = "", first: String? = nil) {
        let width = max(20, terminalWidth() - 1)
        var line = first ?? indent, used = columns(line)
        let scalars = Array(visible(text).unicodeScalars)
        var i = 0
        while i < scalars.count {
            // An escape such as \u{202E} is one unit: it is never cut in two.
            var end = i + 1
            if scalars[i] == "\\", i + 2 < scalars.count, scalars[i + 1] == "u", scalars[i + 2] == "{",
               let close = scalars[(i + 3)...].prefix(7).firstIndex(of: "}") {
                end = close + 1
            }
            let unit = scalars[i..<end]
            let w = unit.reduce(0) { $0 + ($1.value == 0x09 ? 8 : $1.isASCII ? 1 : 2) }
            if used + w > width, used > columns(indent) {
                write(line + "\n", to: .standardOutput)
                line = indent
                used = columns(indent)
            }
            line.unicodeScalars.append(contentsOf: unit)
            used += w
            i = end
        }
        write(line + "\n", to: .standardOutput)
    }

    private static func columns(_ s: String) -> Int { s.unicodeScalars.reduce(0) { $0 + ($1.isASCII ? 1 : 2) } }

    /// The terminal's width in columns: standard output's, else `COLUMNS`, else 80.
    static func terminalWidth() -> Int {
        var size = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap({ Int($0) }), columns > 0 { return min(columns, 10_000) }
        return 80
    }

    /// Multi-line text kith wrote itself (a report), one escaped line at a time.
    static func out(lines text: String) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if text.hasSuffix("\n") { lines.removeLast() }
        for line in lines { out(String(line)) }
    }

    static func error(_ message: String, hint: String? = nil) {
        var text = "kith: error: \(visible(message))\n"
        if let hint { text += "kith: hint: \(visible(hint))\n" }
        write(text, to: .standardError)
    }

    static func warning(_ message: String) {
        write("kith: warning: \(visible(message))\n", to: .standardError)
    }

    static func note(_ message: String) {
        write("kith: \(visible(message))\n", to: .standardError)
    }

    /// Pretty-printed JSON on stdout, with strings exactly as stored:
    /// JSONEncoder already escapes C0 controls inside strings, and scripts
    /// need the exact text.
    static func json(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        write(String(decoding: try encoder.encode(value), as: UTF8.self) + "\n", to: .standardOutput)
    }

    /// Writes all of `text`. A reader that has gone (`kith feed | head`)
    /// ends the program quietly with the status a shell gives a program
    /// stopped by SIGPIPE (141): SIGPIPE itself is ignored (`Kith.main`), so
    /// the write fails with EPIPE instead of trapping.
    private static func write(_ text: String, to handle: FileHandle) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Foundation.write(handle.fileDescriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                exit(errno == EPIPE ? 128 + SIGPIPE : 1)
            }
            bytes = bytes.dropFirst(written)
        }
    }

    /// `text` with every character that a terminal would act on, or that
    /// would change how the line reads, replaced by Swift's escape
    /// `\u{HEX}` (upper-case hex, at least two digits): C0 controls including
    /// line feed and carriage return (tab alone is kept), DEL, C1 controls,
    /// the line and paragraph separators U+2028 and U+2029, and every format
    /// character (general category Cf: bidirectional overrides, isolates and
    /// marks, zero-width characters, tags). A zero width joiner between two
    /// emoji is kept, so emoji sequences such as families and flags still
    /// show; it cannot hide anything there.
    static func visible(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        guard scalars.contains(where: needsEscape) else { return text }
        var result = String.UnicodeScalarView()
        for (i, scalar) in scalars.enumerated() {
            if needsEscape(scalar), !(scalar.value == 0x200D && joinsEmoji(scalars, at: i)) {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result.append(contentsOf: "\\u{\(hex.count < 2 ? "0" + hex : hex)}".unicodeScalars)
            } else {
                result.append(scalar)
            }
        }
        return String(result)
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09: return false
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029: return true
        default: return scalar.properties.generalCategory == .format
        }
    }

    /// Whether the zero width joiner at `i` sits between two emoji (the one
    /// before may carry a variation selector or a skin-tone modifier).
    private static func joinsEmoji(_ scalars: [Unicode.Scalar], at i: Int) -> Bool {
        func isEmoji(_ s: Unicode.Scalar) -> Bool { s.value > 0x7F && s.properties.isEmoji }
        guard i > 0, i + 1 < scalars.count, isEmoji(scalars[i + 1]) else { return false }
        let before = scalars[i - 1]
        return isEmoji(before) || before.value == 0xFE0F
    }
}
