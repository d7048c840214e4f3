import Benchmark
import FapidBenchmarkSupport

/// The cost of one certificate-status check answered from a warm cache (the path every mTLS request
/// takes once its certificate's OCSP answer is cached). Target: at most 5 µs per check.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput], maxDuration: .seconds(3))
    Benchmark("cert-status-warm", configuration: .init(scalingFactor: .kilo)) { benchmark in
        let fixture = try await WarmStatusFixture.make()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(await fixture.check())
        }
        benchmark.stopMeasurement()
        fixture.close()
    }
}
