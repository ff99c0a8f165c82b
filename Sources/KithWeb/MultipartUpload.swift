import Foundation
import Hummingbird
import KithProtocol
import MultipartKit
import NIOCore

/// A `multipart/form-data` form (the composer and the profile form with
/// their photos), read as it streams in: text fields in memory, their
/// names and values together at most `WebApp.maxForm` bytes (as a form
/// without files); files written one by one into a private
/// directory inside the node's home (`WebNode.privateDirectory`), each at
/// most `Attachment.maxSize` bytes and at most `Attachment.maxCount` of
/// them; the whole body at most `maxBody`. The form's CSRF token, the first
/// field of every such form, must match the session before a single byte
/// of a file is written.
struct MultipartUpload {
    /// Every photo at its largest, with room for each part's headers, and the text fields.
    static let maxBody = Attachment.maxCount * (Int(Attachment.maxSize) + 4096) + (1 << 20)
    /// The bytes a part's headers (or anything else read without the parser giving anything out) may take.
    static let maxHeaderBytes = 16 << 10

    var fields: [String: String] = [:]
    /// The files of `fileField`, in the order sent; empty file inputs send none.
    var files: [String] = []

    /// Why a form is refused; nothing was done with it.
    enum Refusal: Error {
        case malformed
        case csrf
        case tooMany
        case tooLarge
        case fieldTooLarge
        case unexpectedFile
    }

    /// The boundary of a `multipart/form-data` content type, or nil for another type.
    static func boundary(of contentType: String?) -> String? {
        guard let contentType, let semicolon = contentType.firstIndex(of: ";"),
              contentType[..<semicolon].trimmingCharacters(in: .whitespaces).lowercased() == "multipart/form-data" else { return nil }
        let boundary = parameter("boundary", in: contentType[contentType.index(after: semicolon)...])
        guard let boundary, (1...70).contains(boundary.utf8.count) else { return nil }
        return boundary
    }

    /// Reads `request`'s body with `boundary`. `checkCSRF` is asked when the
    /// `csrf` field has arrived; `directory` is called once, for the first file.
    static func read(_ request: Request, boundary: String, fileField: String, checkCSRF: @escaping (String) -> Bool,
                     directory: @escaping () throws -> String) async throws -> MultipartUpload {
        let reader = Reader(boundary: boundary, fileField: fileField, checkCSRF: checkCSRF, directory: directory)
        defer { reader.closeFile() }
        var total = 0, silent = 0
        for try await chunk in request.body {
            total += chunk.readableBytes
            guard total <= maxBody else { throw Refusal.tooLarge }
            try reader.execute(chunk)
            if let failure = reader.failure { throw failure }
            // Only a part's headers make the parser hold bytes without giving any out: chunks that
            // give nothing out (headers, or a preamble or epilogue) may add up to maxHeaderBytes.
            silent = reader.gaveOutput ? 0 : silent + chunk.readableBytes
            reader.gaveOutput = false
            guard silent <= maxHeaderBytes else { throw Refusal.malformed }
        }
        guard reader.csrfChecked else { throw Refusal.csrf }
        guard !reader.inPart else { throw Refusal.malformed }
        return MultipartUpload(fields: reader.fields, files: reader.files)
    }

    /// `name="value"` (or `name=value`) among a header's `;`-separated parameters.
    static func parameter(_ name: String, in header: Substring) -> String? {
        for part in header.split(separator: ";") {
            let part = part.trimmingCharacters(in: .whitespaces)
            guard let eq = part.firstIndex(of: "="), part[..<eq].lowercased() == name else { continue }
            var value = part[part.index(after: eq)...]
            if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
            return String(value)
        }
        return nil
    }

    /// The parser's callbacks, which cannot throw: they record a failure, read after each chunk.
    private final class Reader {
        let parser: MultipartParser
        let fileField: String
        let checkCSRF: (String) -> Bool
        let directory: () throws -> String
        var fields: [String: String] = [:]
        var files: [String] = []
        var failure: (any Error)?
        var csrfChecked = false
        /// Whether a part's headers came and its end did not yet.
        var inPart = false
        /// Whether the parser gave out a header, body bytes or a part's end since it was last cleared.
        var gaveOutput = false
        /// Whether the next bytes may be a part's header name (see `execute`): at first, and after a
        /// line that ended in a header or a part's end.
        private var nameNext = true
        private var calledBack = false
        private var calledBackInLine = false
        private var lastWasHeaderOrEnd = false

        private var made: String?
        private var name: String?
        private var isFile = false
        private var text: [UInt8] = []
        /// The text fields' names and values so far.
        private var textBytes = 0
        private var fd: Int32 = -1
        private var written = 0

        init(boundary: String, fileField: String, checkCSRF: @escaping (String) -> Bool, directory: @escaping () throws -> String) {
            parser = MultipartParser(boundary: boundary)
            (self.fileField, self.checkCSRF, self.directory) = (fileField, checkCSRF, directory)
            parser.onHeader = { [unowned self] name, value in
                (gaveOutput, inPart) = (true, true)
                (calledBack, calledBackInLine, lastWasHeaderOrEnd) = (true, true, true)
                guard name.lowercased() == "content-disposition" else { return }
                self.name = MultipartUpload.parameter("name", in: Substring(value))
                isFile = MultipartUpload.parameter("filename", in: Substring(value)) != nil
            }
            parser.onBody = { [unowned self] buffer in
                gaveOutput = true
                (calledBack, calledBackInLine, lastWasHeaderOrEnd) = (true, true, false)
                guard failure == nil else { return }
                do { try body(buffer) } catch { failure = error }
            }
            parser.onPartComplete = { [unowned self] in
                (gaveOutput, inPart) = (true, false)
                (calledBack, calledBackInLine, lastWasHeaderOrEnd) = (true, true, true)
                guard failure == nil else { return }
                do { try complete() } catch { failure = error }
            }
        }

        /// Gives the parser `chunk` a line at a time. MultipartKit's parser looks each byte of a part's
        /// header name up in a table of 128 entries, and traps on one past 0x7F: such a name is refused
        /// before the parser reads it. A header name can begin only after a line that ended in a header
        /// or a part's end, or before anything was given out (the preamble, the first part's headers).
        func execute(_ chunk: ByteBuffer) throws {
            let bytes = chunk.readableBytesView
            var start = bytes.startIndex
            while start < bytes.endIndex {
                let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? bytes.endIndex
                if nameNext, let stop = bytes[start..<end].firstIndex(where: { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "\r") || $0 > 0x7F }) {
                    guard bytes[stop] <= 0x7F else { throw Refusal.malformed }
                    nameNext = false
                }
                guard let line = chunk.getSlice(at: start, length: end - start) else { throw Refusal.malformed }
                do { try parser.execute(line) } catch { throw Refusal.malformed }
                if failure != nil { return }
                if bytes[end - 1] == UInt8(ascii: "\n") {
                    nameNext = !calledBack || (calledBackInLine && lastWasHeaderOrEnd)
                    calledBackInLine = false
                }
                start = end
            }
        }

        private func body(_ bytes: ByteBuffer) throws {
            guard isFile else {
                textBytes += bytes.readableBytes
                guard textBytes <= WebApp.maxForm else { throw Refusal.fieldTooLarge }
                text.append(contentsOf: bytes.readableBytesView)
                return
            }
            guard name == fileField else { throw Refusal.unexpectedFile }
            // The token comes first: no file is written for a form that is not from this session's page.
            guard csrfChecked else { throw Refusal.csrf }
            if fd < 0 {
                guard files.count < Attachment.maxCount else { throw Refusal.tooMany }
                let directory = try made ?? self.directory()
                made = directory
                let path = (directory as NSString).appendingPathComponent("photo-\(files.count + 1)")
                fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
                guard fd >= 0 else { throw WebError("cannot write \(path): \(String(cString: strerror(errno)))") }
                files.append(path)
                written = 0
            }
            guard written + bytes.readableBytes <= Int(Attachment.maxSize) else { throw Refusal.tooLarge }
            try bytes.withUnsafeReadableBytes { raw in
                guard let base = raw.baseAddress else { return }
                var offset = 0
                while offset < raw.count {
                    let n = Foundation.write(fd, base + offset, raw.count - offset)
                    guard n > 0 else { throw WebError("cannot write an uploaded photo: \(String(cString: strerror(errno)))") }
                    offset += n
                }
            }
            written += bytes.readableBytes
        }

        private func complete() throws {
            if isFile {
                closeFile()
            } else if let name {
                let value = String(decoding: text, as: UTF8.self)
                if name == "csrf" && !csrfChecked {
                    guard checkCSRF(value) else { throw Refusal.csrf }
                    csrfChecked = true
                }
                // The first of a field sent twice counts.
                textBytes += name.utf8.count
                guard textBytes <= WebApp.maxForm else { throw Refusal.fieldTooLarge }
                if fields[name] == nil { fields[name] = value }
            }
            (name, isFile, text) = (nil, false, [])
        }

        func closeFile() {
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }
}
