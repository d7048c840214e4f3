// swift-tools-version: 6.1
// `make bench`: the certificate-status micro-benchmark on ordo-one/benchmark, in a package of its own so
// that `make test` never builds the benchmark framework. Run: swift package --package-path Tests/Benchmarks/CertStatus benchmark
import PackageDescription

let package = Package(
    name: "fapid-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "fapid", path: "../../.."),
        .package(url: "https://github.com/ordo-one/benchmark.git", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "CertStatusWarm",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "FapidBenchmarkSupport", package: "fapid"),
            ],
            path: "Benchmarks/CertStatusWarm",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
