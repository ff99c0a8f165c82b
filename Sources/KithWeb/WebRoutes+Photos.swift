import Foundation
import HTTPTypes
import Hummingbird
import KithCrypto
import KithImage
import KithNode
import KithProtocol
import Synchronization

/// Photos: the composer's uploads, a post's or comment's photos and
/// thumbnails, avatars, and the profile pages. Uploads and decrypted
/// photos pass through a private directory in the node's home, removed
/// once the answer is made, whatever happens.
extension WebRoutes {
    func addPhotoRoutes(to router: Router<WebContext>) {
        router.get("/posts/:id/photos/:number") { request, context in try await photo(request, context, thumbnail: false) }
        router.get("/posts/:id/photos/:number/thumbnail") { request, context in try await photo(request, context, thumbnail: true) }
        router.get("/avatars/:who") { request, context in try await avatar(request, context) }
        router.get("/profile") { request, context in try await profile(request, context) }
        router.post("/profile") { request, context in try await setProfile(request, context) }
    }

    // MARK: Uploading

    /// The composer with photos: `multipart/form-data` (a form without a file still works as before).
    func postWithPhotos(_ request: Request, _ context: WebContext, boundary: String) async throws -> Response {
        let directory = PrivateDirectory(node: node)
        defer { directory.remove() }
        let upload = try await self.upload(request, context, boundary: boundary, fileField: "photo", directory: directory)
        var form = Form()
        (form.text, form.audience) = (upload.fields["text"], upload.fields["audience"])
        guard let audience = form.audience, !audience.isEmpty else { throw badInput("Choose who can read the post.", back: "/", context) }
        guard !upload.files.isEmpty else {
            _ = try await node.post(to: audience, text: try text(form, what: "post", back: "/", context))
            return redirect("/")
        }
        let posted = try await node.post(to: audience, text: (form.text ?? "").replacingOccurrences(of: "\r\n", with: "\n"), photos: upload.files)
        let removed = posted.attachments.enumerated().map { index, photo in
            "photo \(index + 1): " + (photo.removedMetadata.isEmpty ? "none found" : photo.removedMetadata.joined(separator: ", "))
        }
        return templates.response(MessagePage(
            title: "Posted", message: "Your post with \(posted.attachments.count) photo\(posted.attachments.count == 1 ? "" : "s") is on its way to \(audience).",
            hint: "Removed before it left this machine (location, camera and other metadata): " + removed.joined(separator: "; ") + ".",
            back: "/", csrf: context.session?.csrf))
    }

    /// A multipart form, once its CSRF token matched; what it refused, as a page.
    func upload(_ request: Request, _ context: WebContext, boundary: String, fileField: String,
                directory: PrivateDirectory) async throws -> MultipartUpload {
        let session = try signedIn(context)
        do {
            return try await MultipartUpload.read(request, boundary: boundary, fileField: fileField,
                                                  checkCSRF: { WebSessions.csrfMatches($0, session) }, directory: directory.make)
        } catch let refusal as MultipartUpload.Refusal {
            let back = fileField == "photo" ? "/" : "/profile"
            switch refusal {
            case .csrf:
                throw HTTPError(.forbidden, message: "This form is not from a page of this session (its CSRF token is missing or wrong). "
                                + "Nothing was changed: go back, reload the page and try again.")
            case .tooLarge:
                throw HTTPError(.contentTooLarge, message: "A photo is larger than 32 MiB, or the photos together are more than a post takes. "
                                + "Nothing was posted.")
            case .tooMany: throw badInput("At most \(Attachment.maxCount) photos go with one post. Nothing was posted.", back: back, context)
            case .fieldTooLarge: throw badInput("The text is too long. Nothing was posted.", back: back, context)
            case .unexpectedFile, .malformed: throw badInput("The form could not be read. Nothing was posted.", back: back, context)
            }
        }
    }

    // MARK: Serving

    /// A post's (or comment's) photo or thumbnail, decrypted, fetched first if need be.
    func photo(_ request: Request, _ context: WebContext, thumbnail: Bool) async throws -> Response {
        _ = try signedIn(context)
        // A whole id (a post's or a comment's), never a prefix: what it names is then fixed for good.
        let id = context.parameters.get("id") ?? ""
        try checkID(id)
        guard id.utf8.count == Post.idLength * 2, let number = context.parameters.get("number").flatMap({ Int($0) }), (1...Attachment.maxCount).contains(number) else {
            throw HTTPError(.notFound)
        }
        // What an id and number name never changes: a post's photos are fixed when it is made.
        let tag = "\"\(id)-\(number)\(thumbnail ? "-thumbnail" : "")\""
        return try await image(request, etag: tag) { path in try await node.savePhoto(of: id, number: number, thumbnail: thumbnail, to: path) }
    }

    /// My avatar (`/avatars/me`) or a friend's, by their fingerprint without spaces.
    func avatar(_ request: Request, _ context: WebContext) async throws -> Response {
        _ = try signedIn(context)
        let who = context.parameters.get("who") ?? ""
        var friend: String?
        if who != "me" {
            guard let found = try await node.friends().first(where: { Self.avatarKey($0.fingerprint) == who }) else { throw HTTPError(.notFound) }
            friend = found.name
        }
        // The URL carries the profile's sequence (`?v=`), and the tag the photo's own hash: a new avatar changes both.
        return try await image(request, etag: nil) { path in try await node.saveAvatar(of: friend, to: path) }
    }

    static func avatarKey(_ fingerprint: String) -> String { fingerprint.filter { $0 != " " }.lowercased() }

    /// The address of a profile's avatar (mine or a friend's), nil if it has none; a new avatar has a new address.
    static func avatarPath(_ profile: ProfileView, mine: Bool) -> String? {
        profile.avatar.map { _ in "/avatars/\(mine ? "me" : avatarKey(profile.fingerprint))?v=\(profile.sequence)" }
    }

    /// The image `save` writes, as the browser may keep it: only JPEG, PNG and WebP (by their bytes), never anything else.
    private func image(_ request: Request, etag: String?, save: (String) async throws -> Void) async throws -> Response {
        var headers: HTTPFields = [.cacheControl: "private, max-age=31536000, immutable", .contentDisposition: "inline"]
        if let etag {
            headers[.eTag] = etag
            if Self.matches(request.headers[.ifNoneMatch], etag) { return Response(status: .notModified, headers: headers) }
        }
        let directory = PrivateDirectory(node: node)
        defer { directory.remove() }
        let path = (try directory.make() as NSString).appendingPathComponent("image")
        try await save(path)
        let bytes = try Self.read(path, atMost: Int(Attachment.maxSize))
        guard let type = Self.imageType(bytes) else {
            throw HTTPError(.unsupportedMediaType, message: "This attachment is not a photo: only JPEG, PNG and WebP images are shown. "
                            + "`kith photo get` saves it.")
        }
        if etag == nil {
            let tag = "\"" + Hex.encode(Hash.blake2b(bytes, length: 16)) + "\""
            headers[.eTag] = tag
            if Self.matches(request.headers[.ifNoneMatch], tag) { return Response(status: .notModified, headers: headers) }
        }
        headers[.contentType] = type
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func matches(_ ifNoneMatch: String?, _ tag: String) -> Bool {
        guard let ifNoneMatch else { return false }
        return ifNoneMatch.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == tag || $0.trimmingCharacters(in: .whitespaces) == "*" }
    }

    /// JPEG, PNG or WebP by the file's first bytes (as KithImage reads them), or nil.
    static func imageType(_ bytes: [UInt8]) -> String? { Photo.detect(bytes)?.mediaType }

    /// A file of at most `limit` bytes, read whole.
    static func read(_ path: String, atMost limit: Int) throws -> [UInt8] {
        guard let file = FileHandle(forReadingAtPath: path) else { throw WebError("cannot read \(path)") }
        defer { try? file.close() }
        let data = try file.read(upToCount: limit + 1) ?? Data()
        guard data.count <= limit else { throw WebError("\(path) is larger than \(limit) bytes") }
        return [UInt8](data)
    }

    // MARK: Profiles

    /// Mine (`/profile`), or a friend's (`/profile?friend=NAME`).
    func profile(_ request: Request, _ context: WebContext) async throws -> Response {
        let session = try signedIn(context)
        let friendName = request.uri.queryParameters.get("friend")
        var fingerprint: String?
        if let friendName {
            guard let friend = try await node.friends().first(where: { $0.name.utf8.elementsEqual(friendName.utf8) }) else {
                throw badInput("You have no friend named \(friendName).", back: "/friends", context)
            }
            fingerprint = friend.fingerprint
        }
        let profile = try await node.profile(of: friendName)
        return templates.response(ProfilePageView(csrf: session.csrf, friend: friendName, fingerprint: fingerprint ?? profile?.fingerprint, profile: profile))
    }

    /// My name, bio and avatar, sent to every friend.
    func setProfile(_ request: Request, _ context: WebContext) async throws -> Response {
        guard let boundary = MultipartUpload.boundary(of: request.headers[.contentType]) else {
            throw badInput("The profile form sends a photo: it must be multipart/form-data.", back: "/profile", context)
        }
        let directory = PrivateDirectory(node: node)
        defer { directory.remove() }
        let upload = try await self.upload(request, context, boundary: boundary, fileField: "avatar", directory: directory)
        guard upload.files.count <= 1 else { throw badInput("An avatar is one photo.", back: "/profile", context) }
        let name = upload.fields["name"]?.trimmingCharacters(in: .whitespaces)
        let bio = upload.fields["bio"]?.replacingOccurrences(of: "\r\n", with: "\n")
        _ = try await node.setProfile(name: name, bio: bio, avatar: upload.files.first)
        return redirect("/profile")
    }
}

/// A private directory in the node's home, made when first asked for and removed with all it holds.
final class PrivateDirectory: Sendable {
    private let node: any WebNode
    private let path = Mutex<String?>(nil)

    init(node: any WebNode) { self.node = node }

    @Sendable func make() throws -> String {
        try path.withLock { path in
            if let path { return path }
            let made = try node.privateDirectory()
            path = made
            return made
        }
    }

    func remove() {
        guard let made = path.withLock({ $0 }) else { return }
        try? FileManager.default.removeItem(atPath: made)
    }
}
