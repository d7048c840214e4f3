// swift-tools-version: 6.1
import Foundation
import PackageDescription

/// `make test` sets FAPID_WARNINGS_AS_ERRORS=1: a warning in one of our own targets fails the build there (the
/// dependencies' warnings are theirs, and a plain `swift build` or `make run` on a newer toolchain still builds).
let strict = ProcessInfo.processInfo.environment["FAPID_WARNINGS_AS_ERRORS"] == "1"

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
] + (strict ? [.unsafeFlags(["-warnings-as-errors"])] : [])

let package = Package(
    name: "fapid",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fapid", targets: ["fapid"]),
        .executable(name: "fapictl", targets: ["fapictl"]),
        // For the micro-benchmark package in Tests/Benchmarks/CertStatus only.
        .library(name: "FapidBenchmarkSupport", targets: ["FapidBenchmarkSupport"]),
        // For the libFuzzer package in Tests/Fuzz only (`make fuzz`).
        .library(name: "FapidFuzzHarness", targets: ["FapidFuzzHarness"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", exact: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", exact: "2.1.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", exact: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", exact: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
        // Tracing: the API (also Hummingbird's) and its OTLP backend; only the HTTP exporter, so gRPC is never built.
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", exact: "1.7.3"),
        .package(url: "https://github.com/swift-otel/swift-otel.git", exact: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // System OpenSSL 3 (libssl-dev): every signature, digest, X.509 and random byte goes through it.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // Keys in PKCS#11 tokens: loaded through OpenSSL's pkcs11 engine (libengine-pkcs11-openssl), generated with
        // C_GenerateKeyPair (the PKCS#11 header from libp11-kit-dev).
        .target(
            name: "CPKCS11",
            dependencies: ["COpenSSL"],
            linkerSettings: [.linkedLibrary("crypto")]
        ),
        // The OpenSSL side of the cryptography: keys, digests, randomness, scrypt, AES-GCM, X.509 and the trust store.
        .target(
            name: "OpenSSLKit",
            dependencies: ["COpenSSL", "CPKCS11"],
            swiftSettings: swiftSettings
        ),
        // JOSE only: JWS, JWK and JWK sets, JWT claims, and the JSON they are made of.
        .target(
            name: "JOSE",
            dependencies: ["COpenSSL", "OpenSSLKit"],
            swiftSettings: swiftSettings
        ),
        // Is this certificate revoked? OCSP first, CRL as fallback, cached; usable on its own.
        .target(
            name: "CertificateStatus",
            dependencies: ["COpenSSL", "JOSE", "OpenSSLKit"],
            swiftSettings: swiftSettings
        ),
        // Spans of the edges (requests, outgoing calls, store operations) over the Tracing API only, behind one
        // switch that is off unless tracing is configured; the OTLP backend is bootstrapped by FapidRuntime.
        .target(
            name: "FapidTracing",
            dependencies: [.product(name: "Tracing", package: "swift-distributed-tracing")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AuthorizationServer",
            dependencies: ["JOSE", "OpenSSLKit", .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SQLiteStorage",
            dependencies: [
                "AuthorizationServer",
                "FapidTracing",
                "CertificateStatus",
                "JOSE", "OpenSSLKit",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // The same store protocols on PostgreSQL, for several daemon instances sharing one database.
        .target(
            name: "PostgresStorage",
            dependencies: [
                "AuthorizationServer",
                "FapidTracing",
                "CertificateStatus",
                "JOSE", "OpenSSLKit",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The same store protocols in memory: the third backend of the contract suite, and core tests' storage.
        .target(
            name: "MemoryStorage",
            dependencies: ["AuthorizationServer", "CertificateStatus"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HTTPEndpoints",
            dependencies: [
                "AuthorizationServer",
                "FapidTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                "JOSE", "OpenSSLKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FapidRuntime",
            dependencies: [
                "AuthorizationServer",
                "FapidTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
                "CertificateStatus",
                "JOSE", "OpenSSLKit",
                "SQLiteStorage",
                "PostgresStorage",
                "MemoryStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fapid",
            dependencies: [
                "FapidRuntime",
                "SQLiteStorage",
                "CertificateStatus",
                "JOSE", "OpenSSLKit",
                "HTTPEndpoints",
                "AuthorizationServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fapictl",
            dependencies: [
                "FapidRuntime",
                "CertificateStatus",
                "AuthorizationServer",
                "JOSE", "OpenSSLKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // `make bench`: release-build throughput of the cryptographic hot paths.
        .executableTarget(
            name: "fapibench", dependencies: ["JOSE", "OpenSSLKit", "CertificateStatus", "FapidRuntime"], path: "Tests/Benchmarks/fapibench", swiftSettings: swiftSettings
        ),
        // `make bench`: a load generator keeping N mTLS connections busy.
        .executableTarget(
            name: "fapiload",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tests/Benchmarks/fapiload",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FapidBenchmarkSupport", dependencies: ["CertificateStatus", "JOSE", "OpenSSLKit", "TestSupport"], path: "Tests/Benchmarks/Support",
            swiftSettings: swiftSettings
        ),
        // `make fuzz`: one target per parser that takes outside bytes. Built here so that `make test` replays every seed
        // and every minimised crash (FuzzRegressionTests); fuzzed by the libFuzzer package in Tests/Fuzz.
        .target(
            name: "FapidFuzzHarness",
            dependencies: ["AuthorizationServer", "CertificateStatus", "HTTPEndpoints", "JOSE", "OpenSSLKit", "MemoryStorage", "TestSupport"],
            path: "Tests/Fuzz/Harness", swiftSettings: swiftSettings
        ),
        // Helpers for the test targets only: test PKI made with the openssl CLI, subprocesses, a fixed clock, seeded entropy.
        .target(
            name: "TestSupport",
            dependencies: [
                "AuthorizationServer", "JOSE", "OpenSSLKit", "FapidTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ], swiftSettings: swiftSettings),
        .testTarget(name: "JOSETests", dependencies: ["JOSE", "OpenSSLKit", "TestSupport"], exclude: ["Fixtures"], swiftSettings: swiftSettings),
        .testTarget(name: "CertificateStatusTests", dependencies: ["CertificateStatus", "JOSE", "OpenSSLKit", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "AuthorizationServerTests", dependencies: ["AuthorizationServer", "JOSE", "OpenSSLKit", "TestSupport", "MemoryStorage"],
            swiftSettings: swiftSettings),
        // The core's services and grants driven through their public API, without a daemon, on MemoryStorage and a
        // fixed clock (`CoreFixture.stores()` is the one place that chooses the stores).
        .testTarget(
            name: "CoreTests",
            dependencies: ["AuthorizationServer", "JOSE", "OpenSSLKit", "TestSupport", "MemoryStorage"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SQLiteStorageTests",
            dependencies: [
                "SQLiteStorage", "MemoryStorage", "AuthorizationServer", "JOSE", "OpenSSLKit", "TestSupport", "FapidTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "HTTPEndpointsTests",
            dependencies: [
                "HTTPEndpoints", "AuthorizationServer", "JOSE", "OpenSSLKit", "TestSupport", "FapidTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StorageContractTests",
            dependencies: [
                "FapidRuntime", "PostgresStorage", "SQLiteStorage", "MemoryStorage", "AuthorizationServer", "CertificateStatus", "JOSE", "OpenSSLKit",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "FuzzRegressionTests", dependencies: ["FapidFuzzHarness"], swiftSettings: swiftSettings),
        .testTarget(
            name: "FapidRuntimeTests",
            dependencies: [
                "FapidRuntime", "TestSupport", "JOSE", "OpenSSLKit", "AuthorizationServer", "SQLiteStorage", "FapidTracing", "CertificateStatus",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ], swiftSettings: swiftSettings),
    ]
)
