import Foundation

/// One measured case: Kith's figure, the floor measured in the same run, and
/// their ratio (higher is better; 1.0 is as fast as the floor).
public struct BenchCase: Encodable, Sendable {
    public let name: String
    public let unit: String
    public let ours: Double
    public let floor: Double
    /// The least acceptable ratio to the floor; nil for a case measured to
    /// be known, not judged (it is never missed).
    public let target: Double?
    public let note: String?
    /// For cases with a time budget as well: the time taken and the budget.
    public var seconds: Double? = nil
    public var secondsLimit: Double? = nil

    public var ratio: Double { floor > 0 ? ours / floor : 0 }
    public var met: Bool { target.map { ratio >= $0 } ?? true && (secondsLimit.map { seconds ?? .infinity <= $0 } ?? true) }

    enum CodingKeys: String, CodingKey { case name, unit, ours, floor, ratio, target, met, note, seconds, secondsLimit = "seconds_limit" }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name); try c.encode(unit, forKey: .unit); try c.encode(ours, forKey: .ours)
        try c.encode(floor, forKey: .floor); try c.encode(ratio, forKey: .ratio); try c.encode(target, forKey: .target)
        try c.encode(met, forKey: .met); try c.encodeIfPresent(note, forKey: .note)
        try c.encodeIfPresent(seconds, forKey: .seconds); try c.encodeIfPresent(secondsLimit, forKey: .secondsLimit)
    }
}

/// What one post costs in bytes for a number of recipients, beside Nostr NIP-17.
public struct ByteCost: Encodable, Sendable {
    public let recipients: Int
    /// The post's envelope: its padded ciphertext and header.
    public let envelope: Int
    /// What the sender uploads to one relay.
    public let kithUpload: Int
    /// What one relay stores: the body once, and a reference row per mailbox.
    public let kithStored: Int
    /// NIP-17: one gift wrap per recipient plus one for the sender, uploaded and stored.
    public let nip17: Int
    /// The drop's fixed framing: version, target count, envelope length.
    public static let frame = 1 + 2 + 4
    /// Upload bytes per recipient beyond the envelope and the fixed frame.
    public var kithPerRecipient: Double { Double(kithUpload - envelope - Self.frame) / Double(recipients) }
}

/// Resident memory of a process, against its limit.
public struct MemoryCost: Encodable, Sendable {
    public let name: String
    /// Resident at the end of the work (VmRSS).
    public let residentMiB: Double
    /// The most it was ever resident (VmHWM / ru_maxrss).
    public let peakMiB: Double
    public let limitMiB: Double
    /// Which figure the limit applies to: "peak" or "resident".
    public let judged: String
    public let note: String?
    public var met: Bool { (judged == "peak" ? peakMiB : residentMiB) <= limitMiB }

    enum CodingKeys: String, CodingKey { case name, residentMiB = "resident_mib", peakMiB = "peak_mib", limitMiB = "limit_mib", judged, note, met }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name); try c.encode(residentMiB, forKey: .residentMiB); try c.encode(peakMiB, forKey: .peakMiB)
        try c.encode(limitMiB, forKey: .limitMiB); try c.encode(judged, forKey: .judged); try c.encodeIfPresent(note, forKey: .note)
        try c.encode(met, forKey: .met)
    }
}

public struct BenchReport: Encodable, Sendable {
    public let machine: String
    public let build: String
    public let quick: Bool
    public let date: String
    public var cases: [BenchCase] = []
    public var bytes: [ByteCost] = []
    public var nip17Formula = ""
    public var memory: [MemoryCost] = []
    /// How soon a waiting owner learns of a drop (the relay's long poll).
    public var push: PushLatency?
    /// How soon a post through one daemon shows in a friend's feed through theirs.
    public var daemon: DaemonLatency?
    /// Cases left out, and why.
    public var notes: [String] = []

    /// The report as a plain-text table.
    public var table: String {
        var lines = ["kith bench\(quick ? " --quick" : "") on \(machine), \(build) build, \(date)", ""]
        lines.append(row(["case", "kith", "floor", "ratio", "target", ""]))
        for c in cases {
            lines.append(row([c.name, format(c.ours) + " " + c.unit, format(c.floor) + " " + c.unit,
                              String(format: "%.2f", c.ratio), c.target.map { String(format: "≥ %.2f", $0) } ?? c.secondsLimit.map { String(format: "< %.0f ms", $0 * 1000) } ?? "—",
                              c.target == nil && c.secondsLimit == nil ? "" : c.met ? "ok" : "MISSED"]))
            if let note = c.note { lines.append("    " + note) }
        }
        if let p = push {
            lines.append("")
            lines.append(row(["push (long poll)", "p50", "p99", "", "drop itself", ""]))
            lines.append(row(["drop to notification, \(p.drops) drops", String(format: "%.2f ms", p.p50Milliseconds),
                              String(format: "%.2f ms", p.p99Milliseconds), "", String(format: "median %.2f ms", p.dropMedianMilliseconds), ""]))
        }
        if let d = daemon { lines += [""] + d.tableLines }
        lines.append("")
        lines.append(row(["recipients", "kith upload", "kith stored", "NIP-17", "kith B/recipient", ""]))
        for b in bytes {
            lines.append(row([String(b.recipients), "\(b.kithUpload) B", "\(b.kithStored) B", "\(b.nip17) B",
                              String(format: "%.0f", b.kithPerRecipient), b.kithPerRecipient <= 64 ? "ok" : "MISSED"]))
        }
        if let b = bytes.first {
            lines.append("    kith upload = envelope (\(b.envelope) B: padded ciphertext and header) + \(ByteCost.frame) B frame + 64 B per recipient; stored = envelope + \(BytesBench.referenceBytes) B per recipient")
        }
        if !nip17Formula.isEmpty { lines.append("    " + nip17Formula) }
        lines.append("")
        lines.append(row(["memory", "resident", "peak", "", "limit", ""]))
        for m in memory {
            lines.append(row([m.name, String(format: "%.1f MiB", m.residentMiB), String(format: "%.1f MiB", m.peakMiB), "",
                              String(format: "%@ ≤ %.0f MiB", m.judged, m.limitMiB), m.met ? "ok" : "MISSED"]))
            if let note = m.note { lines.append("    " + note) }
        }
        if !notes.isEmpty { lines += [""] + notes }
        return lines.joined(separator: "\n")
    }

    private func row(_ cells: [String]) -> String {
        let widths = [34, 18, 18, 12, 18, 6]
        return zip(cells, widths).map { $0.padding(toLength: max($1, $0.count + 1), withPad: " ", startingAt: 0) }.joined().trimmingCharacters(in: .whitespaces)
    }

    private func format(_ v: Double) -> String {
        v >= 100 ? String(format: "%.0f", v) : String(format: "%.2f", v)
    }
}
