import Foundation
import GRDB
import KithCrypto
import KithImage
import KithProtocol

/// A profile as `kith profile show` gives it: mine, or a friend's.
public struct ProfileView: Codable, Sendable, Equatable {
    /// The name I gave the friend (never replaced by their profile's); nil for my own profile.
    public let friend: String?
    public let fingerprint: String
    public let sequence: UInt64
    /// The name they call themself; nil: none.
    public let name: String?
    public let bio: String
    /// The avatar photo, if any.
    public let avatar: Avatar?
    /// When its author made it (by their clock), Unix seconds.
    public let createdAt: UInt64

    /// A JPEG of at most 512 pixels a side.
    public struct Avatar: Codable, Sendable, Equatable {
        public let width: Int
        public let height: Int
        /// Bytes of the JPEG.
        public let size: UInt64
    }

    enum CodingKeys: String, CodingKey {
        case friend, fingerprint, sequence, name, bio, avatar
        case createdAt = "created_at"
    }
}

/// What `kith profile set` did.
public struct ProfileSent: Codable, Sendable {
    public let sequence: UInt64
    /// How many friends it is queued for.
    public let queuedFor: Int
    /// Friends it could not be sealed to now (no valid encryption key): they get it with the next one.
    public let skipped: [String]

    enum CodingKeys: String, CodingKey {
        case sequence, skipped
        case queuedFor = "queued_for"
    }
}

extension Node {
    /// My profile as stored.
    struct StoredProfile {
        let sequence: UInt64
        let name: String?
        let bio: String
        let avatar: Attachment?
        let createdAt: UInt64
    }

    /// Makes my profile anew (sequence + 1) and queues it for every friend,
    /// sealed to each one's current encryption key, with the avatar's blob
    /// uploaded to their relays before it. `name` nil keeps the name, empty
    /// removes it; `bio` nil keeps the bio; `avatar` (an absolute path) nil
    /// keeps the avatar, empty removes it, else the photo is made into a
    /// JPEG of at most 512 pixels a side (KithImage, without metadata) and
    /// encrypted into `HOME/blobs/`.
    public func setProfile(name: String?, bio: String?, avatar: String? = nil) async throws -> ProfileSent {
        guard name != nil || bio != nil || avatar != nil else { throw NodeError("nothing to change", hint: "give --name, --bio or --avatar") }
        if let name, !name.isEmpty { try Validate.name(name, what: "the name") }
        if let bio {
            do { try Profile.checkBio(bio) } catch let error as ProtocolError { throw NodeError(error.detail) }
        }
        let newAvatar = try avatar.map { $0.isEmpty ? nil : try makeAvatar($0) }
        let atRest = try atRest, now = clock()
        do {
            let (sent, replaced) = try await db.writer.write { db -> (ProfileSent, [UInt8]?) in
                let current = try self.myProfile(db)
                let sequence = (current?.sequence ?? 0) + 1
                let kept = newAvatar ?? current?.avatar
                try db.execute(sql: """
                    INSERT OR REPLACE INTO my_profile (id, sequence, name, bio, avatar, avatar_id, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?)
                    """, arguments: [Int64(sequence), try (name.map { $0.isEmpty ? nil : $0 } ?? current?.name).map { try atRest.seal($0, .myProfileName) },
                                     try atRest.seal(bio ?? current?.bio ?? "", .myProfileBio), try kept.map { try atRest.seal($0.bytes, .myProfileAvatar) },
                                     kept?.blob.id.data, Int64(now)])
                var queued = 0, skipped: [String] = []
                for (friend, card) in try self.friendCards(db).sorted(by: { $0.name < $1.name }) {
                    if try self.sendProfile(db, to: card, now: now) { queued += 1 } else { skipped.append(friend) }
                }
                let replaced = current?.avatar.flatMap { $0.blob.id == kept?.blob.id ? nil : $0.blob.id }
                return (ProfileSent(sequence: sequence, queuedFor: queued, skipped: skipped), replaced)
            }
            // The avatar replaced or removed goes now, unless an upload still waits for it.
            if let replaced { try? await removeUnreferencedBlobs([replaced]) }
            return sent
        } catch {
            if let made = newAvatar ?? nil { blobs.remove(made.blob.id) }
            throw error
        }
    }

    /// The avatar of a photo file: a JPEG of at most 512 pixels a side, encrypted into `HOME/blobs/`.
    private func makeAvatar(_ path: String) throws -> Attachment {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw NodeError("the avatar: cannot read \(path)") }
        guard (1...Int64(Attachment.maxSize)).contains(Int64(st.st_size)), let data = FileManager.default.contents(atPath: path) else {
            throw NodeError("the avatar: \(path) is not a photo of 1 byte to 32 MiB")
        }
        let small: Thumbnail
        do { small = try Photo.thumbnail([UInt8](data), maxSide: Int(Profile.maxAvatarSide)) } catch { throw NodeError("the avatar: \(error)") }
        guard small.bytes.count <= Attachment.maxThumbnailSize, let width = UInt16(exactly: small.width), let height = UInt16(exactly: small.height) else {
            throw NodeError("the avatar: the photo made a JPEG larger than \(Attachment.maxThumbnailSize) bytes")
        }
        try blobs.prepare()
        let ref = try storeBlob(small.bytes)
        do {
            let avatar = try Attachment(kind: .photo, mediaType: "image/jpeg", name: "", blob: ref, width: width, height: height, thumbnail: nil)
            try Profile.checkAvatar(avatar)
            return avatar
        } catch let error as ProtocolError {
            blobs.remove(ref.id)
            throw NodeError("the avatar: \(error.detail)")
        }
    }

    func myProfile(_ db: Database) throws -> StoredProfile? {
        let atRest = try atRest
        return try Row.fetchOne(db, sql: "SELECT sequence, name, bio, avatar, updated_at FROM my_profile WHERE id = 1").map { row in
            StoredProfile(sequence: UInt64(clamping: row[0] as Int64), name: try (row[1] as Data?).map { try atRest.text($0, .myProfileName) },
                          bio: try atRest.text(row[2], .myProfileBio),
                          avatar: try (row[3] as Data?).map { try Attachment.decode(try atRest.open($0, .myProfileAvatar)) },
                          createdAt: UInt64(clamping: row[4] as Int64))
        }
    }

    /// Queues my current profile for one friend, sealed to their current
    /// encryption key, after an upload of its avatar's blob to their relays.
    /// False if I have no profile or they have no valid key.
    @discardableResult
    func sendProfile(_ db: Database, to card: ContactCard, now: UInt64) throws -> Bool {
        guard let mine = try myProfile(db), let sealTo = try Self.sealingKey(db, of: card, now: now) else { return false }
        let identity = try requireKeys().identity
        let profile = try Profile(author: identity.publicKey, recipient: card.identity, sequence: mine.sequence, createdAt: mine.createdAt,
                                  name: mine.name, bio: mine.bio, avatar: mine.avatar)
        let envelope = try profile.seal(signer: identity, recipientKey: sealTo.publicKey)
        let ids = mine.avatar.map { [$0.blob.id] } ?? []
        try enqueueBlobs(db, ids, batch: envelope.id, to: [card.identity.data], now: now)
        try enqueue(db, envelope: envelope, to: [card.identity.data], now: now, after: ids.isEmpty ? nil : envelope.id)
        return true
    }

    /// Applies a friend's profile (opened and checked: its signature, that
    /// it is for me). One from someone who is not a friend is dropped: they
    /// send theirs when we become friends. One whose sequence is not higher
    /// than the stored one changes nothing.
    func receive(_ profile: Profile, _ db: Database) throws -> Outcome {
        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM friend WHERE identity = ?", arguments: [profile.author.data]) == true else {
            return .reject("profile: from someone who is not a friend (wrong recipient)")
        }
        if let stored = try Int64.fetchOne(db, sql: "SELECT sequence FROM friend_profile WHERE friend = ?", arguments: [profile.author.data]),
           UInt64(clamping: stored) >= profile.sequence {
            return .done(newPosts: 0, newKeys: 0)
        }
        let atRest = try atRest
        try db.execute(sql: """
            INSERT OR REPLACE INTO friend_profile (friend, sequence, name, bio, avatar, avatar_id, created_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [profile.author.data, Int64(profile.sequence), try profile.name.map { try atRest.seal($0, .profileName) },
                             try atRest.seal(profile.bio, .profileBio), try profile.avatar.map { try atRest.seal($0.bytes, .profileAvatar) },
                             profile.avatar?.blob.id.data, Int64(profile.createdAt), Int64(clock())])
        return .done(newPosts: 0, newKeys: 0)
    }

    /// The name a friend's profile gives them, if they sent one with a name.
    static func profileName(_ db: Database, of identity: Data, _ atRest: AtRest) throws -> String? {
        try Data.fetchOne(db, sql: "SELECT name FROM friend_profile WHERE friend = ? AND name IS NOT NULL", arguments: [identity])
            .map { try atRest.text($0, .profileName) }
    }

    /// My profile (`friend` nil), or the one the friend of that name sent me.
    public func profile(of friend: String?) throws -> ProfileView {
        let atRest = try atRest, me = try identity()
        return try db.writer.read { db in
            guard let friend else {
                guard let mine = try self.myProfile(db) else {
                    throw NodeError("you have no profile yet", hint: "make one with: kith profile set --name NAME --bio TEXT")
                }
                return ProfileView(friend: nil, fingerprint: Fingerprint.of(identity: me), sequence: mine.sequence,
                                   name: mine.name, bio: mine.bio, avatar: mine.avatar.map(Self.avatarView), createdAt: mine.createdAt)
            }
            guard let identity = try Data.fetchOne(db, sql: "SELECT identity FROM friend WHERE name_tag = ?", arguments: [atRest.tag(friend, .friendName)]) else {
                throw NodeError("no friend named \"\(friend)\"", hint: "`kith friend list` shows your friends")
            }
            guard let row = try Row.fetchOne(db, sql: "SELECT sequence, name, bio, created_at, avatar FROM friend_profile WHERE friend = ?",
                                             arguments: [identity]) else {
                throw NodeError("\(friend) has not sent you a profile", hint: "`kith sync` fetches what friends sent")
            }
            return ProfileView(friend: friend, fingerprint: Fingerprint.of(identity: [UInt8](identity)), sequence: UInt64(clamping: row[0] as Int64),
                               name: try (row[1] as Data?).map { try atRest.text($0, .profileName) }, bio: try atRest.text(row[2], .profileBio),
                               avatar: try Self.friendAvatar(row[4], atRest).map(Self.avatarView), createdAt: UInt64(clamping: row[3] as Int64))
        }
    }

    static func avatarView(_ a: Attachment) -> ProfileView.Avatar { .init(width: Int(a.width), height: Int(a.height), size: a.blob.size) }

    static func friendAvatar(_ sealed: Data?, _ atRest: AtRest) throws -> Attachment? {
        try sealed.map { try Attachment.decode(try atRest.open($0, .profileAvatar)) }
    }

    /// Saves the avatar of a friend's profile (or mine, `friend` nil) to
    /// `out` as a JPEG: fetched from my relays if it is not here, verified,
    /// decrypted into a temporary file beside `out` and renamed into place.
    /// An existing `out` is refused unless `force`.
    public func saveAvatar(of friend: String?, to out: String, force: Bool) async throws -> SavedAttachment {
        if !force, FileManager.default.fileExists(atPath: out) {
            throw NodeError("\(out) exists", hint: "choose another file, or pass --force to replace it")
        }
        let atRest = try atRest
        let avatar = try await db.writer.read { db -> Attachment? in
            guard let friend else { return try self.myProfile(db)?.avatar }
            guard let identity = try Data.fetchOne(db, sql: "SELECT identity FROM friend WHERE name_tag = ?", arguments: [atRest.tag(friend, .friendName)]) else {
                throw NodeError("no friend named \"\(friend)\"", hint: "`kith friend list` shows your friends")
            }
            return try Self.friendAvatar(try Data.fetchOne(db, sql: "SELECT avatar FROM friend_profile WHERE friend = ?", arguments: [identity]), atRest)
        }
        guard let ref = avatar?.blob else { throw NodeError(friend.map { "\($0)'s profile has no avatar" } ?? "your profile has no avatar") }
        if !blobs.has(ref.id) {
            // An avatar has no attachment row: fetched by its id alone (the
            // download checks length and hash), and checked below by decrypting.
            var shares = RelayShares(share: nil)
            try await download(BlobFetch(ref: ref, thumbnail: true, label: "avatar", row: 0, writer: []), shown: "avatar", shares: &shares)
        }
        let temporary = out + ".kith-" + Hex.encode(randomBytes(6))
        do { try AttachmentCipher.decrypt(file: blobs.file(ref.id), ref: ref, to: temporary, progress: nil) } catch {
            // The file stays: it matches its id, and another attachment may use it under its own key.
            unlink(temporary)
            throw NodeError("the avatar refused: \((error as? ProtocolError)?.kind.rawValue ?? "\(error)"); nothing was written")
        }
        guard force || !FileManager.default.fileExists(atPath: out), rename(temporary, out) == 0 else {
            unlink(temporary)
            throw NodeError("cannot write \(out)", hint: "choose another file, or pass --force to replace it")
        }
        return SavedAttachment(path: out, bytes: ref.size)
    }
}
