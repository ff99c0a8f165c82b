import Foundation
import GRDB
import KithProtocol

extension SQLiteRelayStore {
    /// Registers a mailbox under `policy`, consuming `invite` in the same
    /// transaction when the policy needs one. Returns false if the mailbox
    /// existed already (no check is made and no code is consumed then).
    public func register(mailbox: [UInt8], now: UInt64, policy: RegistrationPolicy, invite: RelayInvite?,
                         maxMailboxes: Int) async throws -> Bool {
        try await writer.write { db in
            let id = Data(mailbox)
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM mailbox WHERE id = ?", arguments: [id]) == true { return false }
            var inviteHash: Data?
            switch policy {
            case .open: break
            case .allowlist(let keys):
                guard keys.contains(mailbox) else { throw RegistrationRefusal.notAllowed }
            case .invite:
                guard let invite else { throw RegistrationRefusal.inviteRequired }
                let hash = Data(invite.hash)
                guard let row = try Row.fetchOne(db, sql: "SELECT used_at FROM invite WHERE hash = ?", arguments: [hash]) else {
                    throw RegistrationRefusal.inviteUnknown
                }
                guard (row[0] as Int64?) == nil else { throw RegistrationRefusal.inviteUsed }
                inviteHash = hash
            }
            let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM mailbox") ?? 0
            guard count < maxMailboxes else { throw RegistrationRefusal.relayFull }
            try db.execute(sql: "INSERT INTO mailbox (id, created_at) VALUES (?, ?)", arguments: [id, Int64(clamping: now)])
            if let inviteHash {
                try db.execute(sql: "UPDATE invite SET used_at = ? WHERE hash = ? AND used_at IS NULL", arguments: [Int64(clamping: now), inviteHash])
                guard db.changesCount == 1 else { throw RegistrationRefusal.inviteUsed }
            }
            return true
        }
    }

    /// Records a new invite code (only its hash) that can register one mailbox.
    public func addInvite(_ invite: RelayInvite, now: UInt64) async throws {
        try await writer.write { db in
            try db.execute(sql: "INSERT INTO invite (hash, created_at) VALUES (?, ?)", arguments: [Data(invite.hash), Int64(clamping: now)])
        }
    }

    /// Invite codes minted and not used yet, for status output and tests.
    public func unusedInvites() async throws -> Int {
        try await writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM invite WHERE used_at IS NULL") ?? 0 }
    }

    /// A mailbox's envelopes and their bytes, as its quota counts them.
    public func usage(of mailbox: [UInt8]) async throws -> (envelopes: Int, bytes: Int)? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT envelopes, bytes FROM mailbox WHERE id = ?", arguments: [Data(mailbox)]).map { ($0[0], $0[1]) }
        }
    }
}
