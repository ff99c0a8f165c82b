import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The bench's drop client: real HTTP/1.1 to the relay on 127.0.0.1, one
/// kept-alive connection per client, each on a thread of its own sending its
/// drops one after another and reading each answer before the next. It is
/// lean on purpose: the clients share the machine's cores with the relay they
/// measure, and a heavy client (a connection pool, a task and a timer per
/// request, JSON decoding) takes from the relay what it measures.
enum DropSender {
    /// Sends `drops` (encoded drop requests) from `concurrency` connections
    /// at once, and returns the seconds from the start to the last answer.
    /// Every answer must be 200 and accept the drop for every target.
    static func send(_ drops: [[UInt8]], to url: String, concurrency: Int) async throws -> Double {
        try await send(drops, to: [url], concurrency: concurrency)
    }

    /// The same, the connections spread over several relay processes in
    /// turn, as a round-robin balancer would spread them.
    static func send(_ drops: [[UInt8]], to urls: [String], concurrency: Int) async throws -> Double {
        let ports = try urls.map { url in
            guard let port = URL(string: url)?.port.flatMap(UInt16.init(exactly:)), URL(string: url)?.host == "127.0.0.1" else {
                throw BenchError("not a local relay: \(url)")
            }
            return port
        }
        guard !ports.isEmpty else { throw BenchError("no relay to send to") }
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        for lane in 0..<concurrency { sockets.append(try connect(port: ports[lane % ports.count])) }
        let lanes = sockets, failure = FirstError()
        return try await withCheckedThrowingContinuation { continuation in
            let group = DispatchGroup()
            let start = ContinuousClock.now
            for (lane, fd) in lanes.enumerated() {
                group.enter()
                Thread.detachNewThread {
                    defer { group.leave() }
                    do {
                        for i in stride(from: lane, to: drops.count, by: concurrency) { try post(drops[i], on: fd) }
                    } catch {
                        failure.keep(error)
                    }
                }
            }
            group.notify(queue: .global()) {
                let seconds = (ContinuousClock.now - start).seconds
                if let error = failure.error { continuation.resume(throwing: error) } else { continuation.resume(returning: seconds) }
            }
        }
    }

    /// The first error of any lane.
    private final class FirstError: @unchecked Sendable {
        private let lock = NSLock()
        private var first: (any Error)?
        var error: (any Error)? { lock.withLock { first } }
        func keep(_ error: any Error) { lock.withLock { first = first ?? error } }
    }

    private static func connect(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        // A relay that stops answering fails the bench rather than hang it.
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connected == 0 else {
            close(fd)
            throw BenchError("cannot connect to the relay on port \(port)")
        }
        return fd
    }

    /// One drop, and its answer read whole.
    private static func post(_ drop: [UInt8], on fd: Int32) throws {
        let head = Array("POST /v1/envelopes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: \(drop.count)\r\n\r\n".utf8)
        try write(head + drop, to: fd)
        let (status, body) = try readAnswer(from: fd)
        let text = String(decoding: body, as: UTF8.self)
        guard status == 200, text.contains("\"refused\":[]"), !text.contains("\"full\":[") || text.contains("\"full\":[]") else {
            throw BenchError("the relay answered a drop with \(status): \(text.prefix(200))")
        }
    }

    private static func write(_ bytes: [UInt8], to fd: Int32) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw BenchError("sending a drop failed") }
            sent += n
        }
    }

    /// The status and body of one answer with a `Content-Length`.
    private static func readAnswer(from fd: Int32) throws -> (Int, ArraySlice<UInt8>) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var count = 0
        var headEnd: Int?
        var length = 0
        while true {
            if count == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + count, $0.count - count, 0) }
            guard n > 0 else { throw BenchError("the relay closed the connection") }
            count += n
            if headEnd == nil, let end = find([13, 10, 13, 10], in: buffer[..<count]) {
                headEnd = end + 4
                let head = String(decoding: buffer[..<end], as: UTF8.self).lowercased()
                guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                      let value = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) else {
                    throw BenchError("an answer without Content-Length")
                }
                // A drop's answer is a small JSON object; the status code is in the first line's bytes 9 to 11.
                guard (0...(1 << 20)).contains(value), end >= 12 else { throw BenchError("an answer the bench cannot read") }
                length = value
            }
            if let headEnd, count >= headEnd + length {
                let status = Int(String(decoding: buffer[9..<12], as: UTF8.self)) ?? 0
                return (status, buffer[headEnd..<headEnd + length])
            }
        }
    }

    private static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in haystack.startIndex...(haystack.endIndex - needle.count) where haystack[i..<i + needle.count].elementsEqual(needle) { return i }
        return nil
    }
}
