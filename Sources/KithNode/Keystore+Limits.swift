import Foundation
import KithCrypto

/// How hard the keystore's passphrase is to guess, and how long it must be.
///
/// Every write of the keystore under a passphrase uses these Argon2id limits
/// (`Node.create`, `Node.changePassphrase`). A node's own rewrites (a
/// rotation, an erased key) reuse the key derived at unlock, so they keep
/// the file's salt and limits. A keystore written earlier with other limits
/// still opens, because its header carries the limits it was written with,
/// and it is upgraded by `kith key passwd`. The choice and the time an
/// unlock takes are in SECURITY.md ("Secrets at rest").
extension Keystore {
    /// Argon2id passes: libsodium's MODERATE (`crypto_pwhash_OPSLIMIT_MODERATE`, 3).
    public static let opsLimit: UInt64 = 3
    /// Argon2id memory: libsodium's MODERATE (`crypto_pwhash_MEMLIMIT_MODERATE`,
    /// 256 MiB). Measured here, an unlock takes about 0.46 s on an idle
    /// core, six times INTERACTIVE's cost for each guess of an attacker
    /// (SECURITY.md). Every command that uses the keys pays it once, as
    /// there is no daemon yet.
    public static let memLimit: UInt64 = 256 << 20

    /// Argon2id limits for a keystore write.
    public struct Limits: Sendable {
        public let ops: UInt64
        public let mem: UInt64
        /// What Kith writes: `opsLimit` and `memLimit` (MODERATE).
        public static let standard = Limits(ops: opsLimit, mem: memLimit)
        /// libsodium's INTERACTIVE (2 passes, 64 MiB): for tests that make
        /// many nodes and are not about the keystore's strength.
        public static let interactive = Limits(ops: PasswordKDF.interactiveOps, mem: PasswordKDF.interactiveMem)
    }

    /// The fewest characters a new passphrase may have (at `kith init` and
    /// `kith key passwd`). Argon2id slows each guess, but only length makes
    /// a passphrase hard to guess.
    public static let minimumPassphraseLength = 10

    /// Throws unless `passphrase` is long enough for a new keystore.
    /// Characters are counted as a person sees them (an accented letter or
    /// an emoji is one), from the passphrase's UTF-8.
    public static func checkNewPassphrase(_ passphrase: [UInt8]) throws {
        guard !passphrase.isEmpty else { throw NodeError("the passphrase must not be empty") }
        let characters = String(decoding: passphrase, as: UTF8.self).count
        guard characters >= minimumPassphraseLength else {
            throw NodeError("the passphrase is too short: it needs at least \(minimumPassphraseLength) characters",
                            hint: "a few unrelated words of your own choosing are easy to remember and hard to guess")
        }
    }
}
