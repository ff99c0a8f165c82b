import Foundation

/// One HTTP/1.1 exchange over a plain socket to 127.0.0.1, with every header
/// as given (a browser's, or a hostile page's): `Connection: close`, the
/// answer read to its end.
struct WebAnswer {
    let status: Int
    let headers: [(name: String, value: String)]
    let body: String
    /// The body's bytes, as sent (a photo).
    var bytes = Data()

    func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
    func headers(_ name: String) -> [String] { headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value) }
}

/// A browser profile: its own cookie jar, and the web app it talks to, by
/// its host name (`NAME.localhost`, which a browser sends to 127.0.0.1) and port.
final class WebBrowser: @unchecked Sendable {
    let name: String
    let port: Int
    var cookies: [String: String] = [:]

    init(name: String, port: Int) { (self.name, self.port) = (name, port) }

    var host: String { "\(name):\(port)" }

    @discardableResult
    func get(_ path: String, host: String? = nil, headers: [String: String] = [:]) throws -> WebAnswer {
        try send("GET", path, host: host, headers: headers, body: nil)
    }

    /// A form, URL-encoded.
    @discardableResult
    func post(_ path: String, form: [(String, String)], host: String? = nil, headers: [String: String] = [:]) throws -> WebAnswer {
        let body = form.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        var headers = headers
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return try send("POST", path, host: host, headers: headers, body: body)
    }

    /// A part of a multipart/form-data form: a field, or a file when `filename` is given.
    struct Part {
        let name: String
        var filename: String?
        let data: Data
        init(_ name: String, _ value: String) { (self.name, self.data) = (name, Data(value.utf8)) }
        init(file name: String, filename: String, _ data: Data) { (self.name, self.filename, self.data) = (name, filename, data) }
    }

    /// A form with files, as a browser sends it (`enctype="multipart/form-data"`).
    @discardableResult
    func post(_ path: String, multipart parts: [Part]) throws -> WebAnswer {
        let boundary = "----KithTestBoundary" + UUID().uuidString
        var body = Data()
        for part in parts {
            var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\""
            if let filename = part.filename { head += "; filename=\"\(filename)\"\r\nContent-Type: application/octet-stream" }
            body += Data((head + "\r\n\r\n").utf8) + part.data + Data("\r\n".utf8)
        }
        body += Data("--\(boundary)--\r\n".utf8)
        return try send("POST", path, host: nil, headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"], data: body)
    }

    func send(_ method: String, _ path: String, host: String?, headers: [String: String], body: String?) throws -> WebAnswer {
        try send(method, path, host: host, headers: headers, data: body.map { Data($0.utf8) })
    }

    func send(_ method: String, _ path: String, host: String?, headers: [String: String], data body: Data?) throws -> WebAnswer {
        var request = "\(method) \(path) HTTP/1.1\r\nHost: \(host ?? self.host)\r\nConnection: close\r\n"
        if !cookies.isEmpty { request += "Cookie: " + cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") + "\r\n" }
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        if let body { request += "Content-Length: \(body.count)\r\n" }
        let answer = try WebSocket(port: port).exchange(Data((request + "\r\n").utf8) + (body ?? Data()))
        for cookie in answer.headers("Set-Cookie") {
            guard let pair = cookie.split(separator: ";").first, let eq = pair.firstIndex(of: "=") else { continue }
            let name = String(pair[..<eq]), value = String(pair[pair.index(after: eq)...])
            if value.isEmpty { cookies.removeValue(forKey: name) } else { cookies[name] = value }
        }
        return answer
    }

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")) ?? ""
    }
}

/// A TCP connection to 127.0.0.1:port.
struct WebSocket {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(message: "no socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw Failure(message: "cannot connect to port \(port)") }
    }

    /// A socket bound and listening on [::1]:port (0: a free one), or nil when that port is taken.
    static func bind6(port: Int) -> (fd: Int32, port: Int)? {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = in_port_t(UInt16(port).bigEndian)
        address.sin6_addr = in6addr_loopback
        var size = socklen_t(MemoryLayout<sockaddr_in6>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &size) == 0 }
        }
        guard bound else { close(fd); return nil }
        return (fd, Int(UInt16(bigEndian: address.sin6_port)))
    }

    func write(_ data: Data) throws {
        let sent = data.withUnsafeBytes { send(fd, $0.baseAddress, data.count, Int32(MSG_NOSIGNAL)) }
        guard sent == data.count else { throw Failure(message: "cannot send") }
    }

    /// Reads until `done` says enough, the peer closes, or nothing comes for the timeout.
    func read(until done: (Data) -> Bool = { _ in false }) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !done(data) {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }

    func exchange(_ request: Data) throws -> WebAnswer {
        defer { close(fd) }
        // A server may answer (a refusal) and close before it read a large request whole: its answer counts.
        var offset = 0
        while offset < request.count {
            let sent = request.withUnsafeBytes { send(fd, $0.baseAddress! + offset, request.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { break }
            offset += sent
        }
        return try Self.parse(read())
    }

    static func parse(_ data: Data) throws -> WebAnswer {
        let text = String(decoding: data, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { throw Failure(message: "no answer: \(text.prefix(200))") }
        let lines = text[..<end.lowerBound].components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw Failure(message: "bad status line \(lines[0])") }
        let headers = lines.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var body = String(text[end.upperBound...])
        if headers.contains(where: { $0.name.lowercased() == "transfer-encoding" && $0.value == "chunked" }) { body = dechunk(body) }
        var bytes = Data()
        if let split = data.range(of: Data("\r\n\r\n".utf8)) { bytes = data[split.upperBound...] }
        return WebAnswer(status: status, headers: headers, body: body, bytes: bytes)
    }

    /// A chunked body's text, without the chunk sizes.
    static func dechunk(_ text: String) -> String {
        var rest = Substring(text), out = ""
        while let line = rest.range(of: "\r\n"), let size = Int(rest[..<line.lowerBound], radix: 16), size > 0 {
            let start = line.upperBound
            let bytes = Array(rest[start...].utf8)
            guard bytes.count >= size else { break }
            out += String(decoding: bytes[0..<size], as: UTF8.self)
            rest = Substring(String(decoding: bytes[size...], as: UTF8.self)).dropFirst(2)
        }
        return out
    }

    struct Failure: Error { let message: String }
}
