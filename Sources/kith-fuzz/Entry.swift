// The fuzz build (scripts/fuzz.sh: -sanitize=fuzzer -D KITH_FUZZ) hands the
// process to libFuzzer's driver. Without KITH_FUZZ (the normal `swift build`)
// the same targets replay files, to reproduce a crash input without libFuzzer.
import Foundation
import KithCrypto
import KithProtocol

/// The decoder this process fuzzes, from `KITH_FUZZ_TARGET`.
let selectedTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["KITH_FUZZ_TARGET"] ?? ""
    guard let t = FuzzTarget(rawValue: name) else {
        fatalError("kith-fuzz: set KITH_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: " "))")
    }
    return t
}()

/// Runs one input through the selected target; libFuzzer calls it for every input.
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    selectedTarget.run(bytes)
    return 0
}

#if KITH_FUZZ
/// libFuzzer's driver (in libclang_rt.fuzzer, linked by -sanitize=fuzzer). SwiftPM
/// points an executable's `main` at the module's own entry point, so libFuzzer's
/// `main` is never linked; this calls its driver instead, with the same arguments.
@_extern(c, "LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
#endif

/// Fuzz build: `KITH_FUZZ_TARGET=NAME kith-fuzz [libFuzzer flags] [CORPUS...]`, or
/// `KITH_FUZZ_SEEDS=OUT KITH_FUZZ_VECTORS=DIR kith-fuzz` to write the seed corpora.
/// Normal build: `kith-fuzz TARGET FILE-OR-DIR...` runs each file (or each file
/// in a folder) through a target once, as libFuzzer would, to reproduce a crash
/// without libFuzzer; `kith-fuzz --seeds VECTORS OUT` writes the seed corpora.
@main enum KithFuzz {
    static func main() throws {
        let env = ProcessInfo.processInfo.environment
        let args = Array(CommandLine.arguments.dropFirst())
        if let out = env["KITH_FUZZ_SEEDS"] {
            try writeSeeds(vectors: env["KITH_FUZZ_VECTORS"] ?? "Tests/KithProtocolTests/Vectors", to: out)
            return
        }
        if args.first == "--seeds", args.count == 3 {
            try writeSeeds(vectors: args[1], to: args[2])
            return
        }
        Fixtures.checkPostKey()
        #if KITH_FUZZ
        _ = selectedTarget
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, { data, size in fuzzOne(data, size) }))
        #else
        guard args.count >= 2, let target = FuzzTarget(rawValue: args[0]) else {
            FileHandle.standardError.write(Data("""
                usage: kith-fuzz TARGET FILE-OR-DIR...
                       kith-fuzz --seeds VECTORS OUT
                targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: " "))

                """.utf8))
            exit(2)
        }
        let fm = FileManager.default
        for arg in args.dropFirst() {
            var isDir: ObjCBool = false
            let files = fm.fileExists(atPath: arg, isDirectory: &isDir) && isDir.boolValue
                ? try fm.contentsOfDirectory(atPath: arg).sorted().map { (arg as NSString).appendingPathComponent($0) } : [arg]
            for file in files {
                print("running \(file)")
                guard let data = fm.contents(atPath: file) else { throw CocoaError(.fileReadNoSuchFile) }
                target.run([UInt8](data))
            }
        }
        print("kith-fuzz: no finding")
        #endif
    }

    static func writeSeeds(vectors: String, to out: String) throws {
        print("kith-fuzz: wrote \(try Seeds.write(vectors: vectors, to: out)) seeds to \(out)")
    }
}
