// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "kith",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kith", targets: ["kith"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Already in the graph through swift-configuration's YAML trait; used directly to list a config file's keys.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // The relay's store on a PostgreSQL server, shared by several relay processes.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // The web app's templates.
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // The web app's photo uploads (multipart/form-data), parsed as they stream in.
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.1"),
    ],
    targets: [
        // libsodium from the system (Debian: libsodium-dev). Only KithCrypto imports it.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // Safe wrappers over libsodium's high-level constructions.
        .target(name: "KithCrypto", dependencies: ["CSodium"], swiftSettings: swiftSettings),
        // Wire formats: cards, envelopes, key messages, posts, signed requests. Mirrors docs/PROTOCOL.md.
        .target(name: "KithProtocol", dependencies: ["KithCrypto"], swiftSettings: swiftSettings),
        // libjpeg-turbo, libpng and libwebp from the system (Debian: libjpeg62-turbo-dev,
        // libpng-dev, libwebp-dev). Only KithImage imports them; `make dist` links them statically.
        .systemLibrary(
            name: "CImage",
            providers: [.apt(["libjpeg62-turbo-dev", "libpng-dev", "libwebp-dev"])]
        ),
        // The decode and encode calls into CImage, each behind a setjmp (libjpeg and libpng
        // report errors by longjmp, which Swift cannot catch).
        .target(name: "KithImageC", dependencies: ["CImage"]),
        // Photos before they leave the machine: metadata removed, orientation, thumbnails.
        .target(name: "KithImage", dependencies: ["CImage", "KithImageC"], swiftSettings: swiftSettings),
        // libqrencode from the system (Debian: libqrencode-dev): the web app's QR codes. Only KithWeb imports it.
        .systemLibrary(
            name: "CQREncode",
            pkgConfig: "libqrencode",
            providers: [.apt(["libqrencode-dev"])]
        ),
        // The store-and-forward relay: HTTP API and its SQLite store.
        .target(
            name: "KithRelay",
            dependencies: [
                "KithProtocol", "KithCrypto",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's incremental blob I/O, for blobs read and written a piece at a time.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // Waits for mail end at once when the relay shuts down.
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The relay's store on PostgreSQL, for several relay processes sharing one database.
        .target(
            name: "KithRelayPostgres",
            dependencies: [
                "KithRelay", "KithProtocol", "KithCrypto",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // One person's node: keystore, database, outbox, sync, feed.
        .target(
            name: "KithNode",
            dependencies: [
                "KithProtocol", "KithCrypto", "KithImage",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The local web app the daemon serves to its owner: routes, sessions, templates
        // and assets, all built into the binary (Resources, embedded in the code).
        .target(
            name: "KithWeb",
            dependencies: [
                "KithNode", "KithProtocol", "KithCrypto", "KithImage", "CQREncode",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: ["top", "bottom", "item", "feed", "post", "message",
                        "friends", "friend", "friend-remove", "messages", "conversation",
                        "audiences", "audience", "audience-remove", "status", "onboarding", "edit", "delete", "profile", "photos"].map { .embedInCode("Resources/\($0).mustache") }
                + [.embedInCode("Resources/kith.css"), .embedInCode("Resources/kith.js")],
            swiftSettings: swiftSettings
        ),
        // `kith daemon`: the node's config file, its services in a ServiceGroup
        // (delivery, sync, key rotation, control socket) and the control client.
        .target(
            name: "KithDaemon",
            dependencies: [
                "KithNode", "KithRelay", "KithRelayPostgres", "KithProtocol", "KithCrypto", "KithWeb",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // `kith bench`: Kith's speed beside floors measured straight through
        // libsodium and the SQLite C API in the same run.
        .target(
            name: "KithBench",
            dependencies: [
                "KithNode", "KithRelay", "KithRelayPostgres", "KithProtocol", "KithCrypto", "KithImage", "KithImageC", "CSodium",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "kith",
            dependencies: [
                "KithNode", "KithRelay", "KithRelayPostgres", "KithProtocol", "KithCrypto", "KithBench", "KithDaemon", "KithImage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Writes the test vectors in Tests/Vectors (run by hand: swift run kith-vectors).
        .executableTarget(name: "kith-vectors", dependencies: ["KithProtocol", "KithCrypto"], swiftSettings: swiftSettings),
        // libFuzzer harness over every decoder. scripts/fuzz.sh builds it with
        // -sanitize=fuzzer into .build-fuzz; a normal build makes a replayer of crash inputs.
        .executableTarget(name: "kith-fuzz", dependencies: ["KithProtocol", "KithCrypto", "KithImage"], swiftSettings: swiftSettings),
        .testTarget(name: "KithImageTests", dependencies: ["KithImage"], resources: [.copy("Fixtures")], swiftSettings: swiftSettings),
        .testTarget(name: "KithCryptoTests", dependencies: ["KithCrypto"], swiftSettings: swiftSettings),
        .testTarget(
            name: "KithProtocolTests",
            dependencies: ["KithProtocol", "KithCrypto"],
            resources: [.copy("Vectors")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KithRelayTests",
            dependencies: [
                "KithRelay", "KithRelayPostgres", "KithNode", "KithProtocol", "KithCrypto",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KithNodeTests",
            dependencies: [
                "KithNode", "KithRelay", "KithRelayPostgres", "KithProtocol", "KithCrypto", "KithDaemon",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "KithWebTests", dependencies: ["KithWeb", "KithCrypto"], swiftSettings: swiftSettings),
        .testTarget(name: "KithCLITests", dependencies: ["KithCrypto", "KithProtocol"], swiftSettings: swiftSettings),
    ]
)
