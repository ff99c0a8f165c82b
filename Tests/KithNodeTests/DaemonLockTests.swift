import Foundation
import KithDaemon
import Testing

/// The command line goes through a daemon only once it serves its control
/// socket: while it starts (unlocking, perhaps waiting for a passphrase)
/// the node directory is used directly. Another process plays the daemon,
/// since a process never sees its own POSIX lock as held.
@Suite struct DaemonLockTests {
    @Test(.timeLimit(.minutes(1))) func aDaemonIsFoundOnlyOnceItAnnouncesItsSocket() throws {
        let home = NSTemporaryDirectory() + "kith-lock-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        #expect(DaemonLock.holder(home: home) == nil)

        // Takes the lock and writes its pid, as `DaemonLock.acquire`; then, told to, the socket, as `announce`.
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        daemon.arguments = ["python3", "-c", """
            import fcntl, os, sys
            fd = os.open(sys.argv[1] + '/daemon.lock', os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, (str(os.getpid()) + '\\n').encode())
            print('started', flush=True)
            sys.stdin.readline()
            os.ftruncate(fd, 0)
            os.pwrite(fd, (str(os.getpid()) + '\\n' + sys.argv[1] + '/daemon.sock\\n').encode(), 0)
            print('announced', flush=True)
            sys.stdin.readline()
            """, home]
        let input = Pipe(), output = Pipe()
        daemon.standardInput = input
        daemon.standardOutput = output
        try daemon.run()
        // Its standard input closed, it ends (a signal might be ignored, as this process may ignore it).
        defer { try? input.fileHandleForWriting.close(); daemon.waitUntilExit() }
        func line() -> String {
            var bytes: [UInt8] = [], byte: UInt8 = 0
            while read(output.fileHandleForReading.fileDescriptor, &byte, 1) == 1, byte != 10 { bytes.append(byte) }
            return String(decoding: bytes, as: UTF8.self)
        }

        #expect(line() == "started")
        #expect(DaemonLock.holder(home: home) == nil, "a daemon still starting is not used")
        #expect(throws: (any Error).self) { try DaemonLock.acquire(home: home) }
        input.fileHandleForWriting.write(Data("go\n".utf8))
        #expect(line() == "announced")
        let holder = try #require(DaemonLock.holder(home: home))
        #expect(holder.pid == daemon.processIdentifier && holder.socket == home + "/daemon.sock")
    }
}
