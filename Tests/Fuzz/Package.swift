// swift-tools-version: 6.1
// `make fuzz`: libFuzzer over every parser that takes outside bytes (docs/robustness.md), in a package of its own so
// that `make test` never builds it with sanitizers. The targets live in the main package (Tests/Fuzz/Harness), where
// `make test` replays their seeds and regressions; this package only links them to libFuzzer:
//   swift build --package-path Tests/Fuzz -c release --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address
//   make fuzz FUZZ_TARGETS=jws   (running one target by hand: docs/robustness.md)
import PackageDescription

let package = Package(
    name: "fapid-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "fapid", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "fapid-fuzz",
            dependencies: [.product(name: "FapidFuzzHarness", package: "fapid")],
            path: "Sources/fapid-fuzz",
            // libFuzzer brings main(); the entry points are @_cdecl functions.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    ]
)
