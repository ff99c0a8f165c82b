import ArgumentParser
import Foundation
import KithBench
import KithDaemon
import KithNode
import KithRelayPostgres

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Kith's speed beside floors measured in the same run.",
        discussion: """
            Each case prints Kith's figure, a floor measured in the same process on the same \
            machine (libsodium or the SQLite C API doing the same work directly), and their \
            ratio. Relay cases use real HTTP on 127.0.0.1. Build with `swift build -c release` \
            for figures worth comparing; --quick runs every case small, to check that it works.
            """
    )

    @Flag(help: "Run every case small (seconds, not minutes).")
    var quick = false

    @Option(help: ArgumentHelp("Also write the report as JSON to this file.", valueName: "file"))
    var json: String?

    @Option(name: .customLong("only"), parsing: .upToNextOption,
            help: ArgumentHelp("Run only these cases: \(Bench.caseNames.joined(separator: ", ")).", valueName: "case"))
    var only: [String] = []

    @Option(help: ArgumentHelp(
        "A PostgreSQL server for the postgres case: relays on it beside SQLite. The bench makes a database of its own there and drops it "
            + "after, so the role needs CREATEDB; the password comes from KITH_RELAY_STORE_PASSWORD, as for `kith relay`.",
        valueName: "postgres://user@host:port/db"))
    var postgres: String?

    func run() async throws {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var server: PostgresStoreConfiguration?
        if let postgres {
            guard case .postgres(var configuration) = try RelayStoreURL.parse(postgres) else {
                throw ValidationError("--postgres takes a postgres:// URL")
            }
            configuration.password = try RelayStorePassword.read(flagFile: nil, environment: ProcessInfo.processInfo.environment, configFile: nil)
            server = configuration
        }
        let report = try await Bench.run(quick: quick, only: only.isEmpty ? nil : Set(only), executable: executable, postgres: server) {
            Console.note("bench: \($0)")
        }
        Console.out(lines: report.table)
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            do { try encoder.encode(report).write(to: URL(fileURLWithPath: json)) } catch {
                throw NodeError("cannot write \(json): \(error.localizedDescription)")
            }
        }
    }
}
