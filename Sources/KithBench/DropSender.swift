import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The bench's drop client: real HTTP/1.1 to the relay on 127.0.0.1, one
/// kept-alive connection per client, each sending its drops one after
/// another and reading each answer before the next. It is lean on purpose:
/// the clients share the machine's cores with the relay they measure, and a
/// heavy client takes from the relay what it measures. So one thread drives
/// every connection (`poll`), where a thread per connection would be woken
/// once per answer, and answers are read as bytes, not decoded: on a real
/// network the clients are other machines, and their costs are not the
/// relay's.
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
        let requests = drops.map { drop in
            Array("POST /v1/envelopes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: \(drop.count)\r\n\r\n".utf8) + drop
        }
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        for lane in 0..<min(concurrency, max(requests.count, 1)) { sockets.append(try connect(port: ports[lane % ports.count])) }
        let lanes = sockets
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try drive(lanes, requests: requests) })
            }
        }
    }

    /// One connection's part: its next request (lane `i` of `n` sends
    /// requests `i`, `i + n`, `i + 2n`, ...), one at a time, and the bytes of
    /// the answer read so far.
    private struct Lane {
        let fd: Int32
        var next: Int
        var answer: [UInt8] = []
    }

    /// Sends each lane's requests in turn, reading each answer whole before
    /// the lane's next; returns the seconds until the last answer.
    private static func drive(_ fds: [Int32], requests: [[UInt8]]) throws -> Double {
        var lanes = fds.enumerated().map { Lane(fd: $1, next: $0) }
        var polled = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let start = ContinuousClock.now
        var open = 0
        for lane in lanes where lane.next < requests.count {
            try write(requests[lane.next], to: lane.fd)
            open += 1
        }
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while open > 0 {
            // A relay that stops answering fails the bench rather than hang it.
            let ready = poll(&polled, nfds_t(polled.count), 60_000)
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { throw BenchError(ready == 0 ? "the relay stopped answering" : "poll failed") }
            for i in polled.indices where polled[i].revents != 0 {
                polled[i].revents = 0
                let n = buffer.withUnsafeMutableBytes { recv(lanes[i].fd, $0.baseAddress!, $0.count, 0) }
                guard n > 0 else { throw BenchError("the relay closed the connection") }
                lanes[i].answer += buffer[0..<n]
                guard let (status, body) = try complete(lanes[i].answer) else { continue }
                try check(status: status, body: body)
                lanes[i].answer.removeAll(keepingCapacity: true)
                lanes[i].next += lanes.count
                if lanes[i].next < requests.count {
                    try write(requests[lanes[i].next], to: lanes[i].fd)
                } else {
                    polled[i].fd = -1 // done: poll skips it
                    open -= 1
                }
            }
        }
        return (ContinuousClock.now - start).seconds
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
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connected == 0 else {
            close(fd)
            throw BenchError("cannot connect to the relay on port \(port)")
        }
        return fd
    }

    private static func write(_ bytes: [UInt8], to fd: Int32) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw BenchError("sending a drop failed") }
            sent += n
        }
    }

    private static let headEnd = Array("\r\n\r\n".utf8)
    private static let lengthLine = Array("\r\ncontent-length:".utf8)
    private static let noneRefused = Array("\"refused\":[]".utf8)
    private static let fullList = Array("\"full\":[".utf8)
    private static let noneFull = Array("\"full\":[]".utf8)

    /// The status and body of an answer with a `Content-Length`, if `bytes`
    /// holds it whole. With one drop in flight, nothing may follow it.
    private static func complete(_ bytes: [UInt8]) throws -> (Int, ArraySlice<UInt8>)? {
        guard let end = find(headEnd, in: bytes[...]) else {
            guard bytes.count < 16 << 10 else { throw BenchError("an answer the bench cannot read") }
            return nil
        }
        // "HTTP/1.1 200 ...": the status is in bytes 9 to 11 of the first line.
        guard end >= 12, let status = Int(String(decoding: bytes[9..<12], as: UTF8.self)) else { throw BenchError("an answer the bench cannot read") }
        guard let length = contentLength(bytes[..<end]), (0...(1 << 20)).contains(length) else { throw BenchError("an answer without Content-Length") }
        let bodyEnd = end + 4 + length
        guard bytes.count >= bodyEnd else { return nil }
        guard bytes.count == bodyEnd else { throw BenchError("the relay sent more than one answer to one drop") }
        return (status, bytes[(end + 4)..<bodyEnd])
    }

    /// The value of the head's Content-Length line (its name in any case,
    /// blanks around the value), nil if it has none or no number.
    private static func contentLength(_ head: ArraySlice<UInt8>) -> Int? {
        let lower = head.map { (65...90).contains($0) ? $0 + 32 : $0 }
        guard let line = find(lengthLine, in: lower[...]) else { return nil }
        let rest = lower[(line + lengthLine.count)...]
        let value = rest.prefix { $0 != 13 }.drop { $0 == 32 || $0 == 9 }.reversed().drop { $0 == 32 || $0 == 9 }.reversed()
        guard (1...9).contains(value.count), value.allSatisfy({ (48...57).contains($0) }) else { return nil }
        return value.reduce(0) { $0 * 10 + Int($1 - 48) }
    }

    /// A drop's answer must be 200, with no target refused or full.
    private static func check(status: Int, body: ArraySlice<UInt8>) throws {
        let fullSome = find(fullList, in: body) != nil && find(noneFull, in: body) == nil
        guard status == 200, find(noneRefused, in: body) != nil, !fullSome else {
            throw BenchError("the relay answered a drop with \(status): \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
    }

    private static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in haystack.startIndex...(haystack.endIndex - needle.count) where haystack[i..<i + needle.count].elementsEqual(needle) { return i }
        return nil
    }
}
