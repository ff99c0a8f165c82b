import Foundation
import KithCrypto
import KithProtocol
#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP connection to 127.0.0.1, for requests no HTTP client would
/// send and for clients that never read their answers, from 127.0.0.1 or
/// another loopback address (so that the relay sees another client). Blocking socket calls
/// run on a GCD thread: blocking Swift concurrency's small pool would starve
/// an in-process relay's handlers.
final class RawConnection: @unchecked Sendable {
    let fd: Int32

    /// Connects; `receiveBuffer` shrinks the socket's receive buffer (and so
    /// the window the relay can fill) before connecting.
    init(port: Int, receiveBuffer: Int32? = nil, from source: String = "127.0.0.1") throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket failed") }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { close(fd); throw Failure("bind to \(source) failed") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var timeout = timeval(tv_sec: 60, tv_usec: 0)  // no read in a test waits forever
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(fd); throw Failure("connect failed") }
    }

    deinit { close(fd) }

    /// Sends a request head (and body) built from its parts.
    func send(_ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = []) async throws {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "Content-Length: \(body.count)\r\n\r\n"
        let bytes = Array(text.utf8) + body
        try await offPool { try self.write(bytes) }
    }

    /// Sends raw bytes, blocking until the socket takes them all.
    func send(raw bytes: [UInt8]) async throws {
        try await offPool { try self.write(bytes) }
    }

    /// Sends raw text at once, without waiting: false if the relay has closed the connection.
    @discardableResult
    func sendNow(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) } > 0
    }

    /// Reads the whole answer head as text ("" if the connection ends first).
    func readHeadText() async throws -> String {
        try await offPool {
            var head: [UInt8] = []
            var byte: UInt8 = 0
            while !head.suffix(4).elementsEqual([13, 10, 13, 10]), head.count < 65536, recv(self.fd, &byte, 1, 0) == 1 { head.append(byte) }
            return String(decoding: head, as: UTF8.self)
        }
    }

    private func write(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure("send failed") }
            sent += n
        }
    }

    /// Reads until the end of the answer's head and returns its status code.
    func readStatus() async throws -> Int { try await readHead().status }

    /// Reads the answer's head only (the body stays unread): its status and Content-Length.
    func readHead() async throws -> (status: Int, contentLength: Int?) {
        try await offPool {
            var head: [UInt8] = []
            var byte: UInt8 = 0
            while !head.suffix(4).elementsEqual([13, 10, 13, 10]), head.count < 65536 {
                guard recv(self.fd, &byte, 1, 0) == 1 else { throw Failure("connection closed before an answer") }
                head.append(byte)
            }
            let lines = String(decoding: head, as: UTF8.self).lowercased().split(separator: "\r\n")
            let statusLine = lines.first?.split(separator: " ") ?? []
            guard statusLine.count > 1, let status = Int(statusLine[1]) else { throw Failure("no status line") }
            let length = lines.first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
            return (status, length)
        }
    }

    /// Reads exactly `count` bytes (fewer if the connection ends first).
    func read(count: Int) async throws -> [UInt8] {
        try await offPool {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(count)
            var chunk = [UInt8](repeating: 0, count: 65536)
            while bytes.count < count {
                let n = recv(self.fd, &chunk, min(chunk.count, count - bytes.count), 0)
                if n <= 0 { break }
                bytes += chunk[0..<n]
            }
            return bytes
        }
    }

    /// Reads until the connection ends; returns how many bytes came.
    func readToEnd() async throws -> Int {
        try await offPool {
            var count = 0
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = recv(self.fd, &chunk, chunk.count, 0)
                if n <= 0 { break }
                count += n
            }
            return count
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

/// The four Kith-* headers of a request signed now for `path` (the request target as signed).
func signedHeaders(_ method: String, _ path: String, key: SigningKey, body: [UInt8] = []) -> [(String, String)] {
    SignedRequest(method: method, path: path, body: body, mailboxKey: key, timestamp: UInt64(Date().timeIntervalSince1970)).headers
}

/// Runs blocking work on a GCD thread.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}
