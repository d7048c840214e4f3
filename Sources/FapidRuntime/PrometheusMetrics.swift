public import CertificateStatus
import CoreMetrics
import Foundation
public import Prometheus
public import AuthorizationServer
import Synchronization

/// The daemon's metrics: swift-metrics bootstrapped onto a swift-prometheus registry, plus the values
/// pulled at scrape time (certificate-status counters kept by the checker, pending CIBA requests).
public final class PrometheusMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let checker: CertificateStatusChecker?
    let ciba: (any CIBAStore)?
    private let exported = Mutex(CertificateStatusChecker.Counters())
    private let statusCounters: [String: Prometheus.Counter]
    private let cibaPending: Prometheus.Gauge

    /// Bootstraps swift-metrics onto a new registry: call once, before any counter is made. A metric made before
    /// (a signing key loaded at start-up, say) would stay on the no-op handler and never be exported.
    /// Timers become histograms with buckets from 0.5 ms (a key in a file) to 5 s (a slow hardware token).
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// Bootstraps swift-metrics (`bootstrap()`) and exports its registry.
    public convenience init(checker: CertificateStatusChecker?, ciba: (any CIBAStore)?) {
        self.init(registry: Self.bootstrap(), checker: checker, ciba: ciba)
    }

    /// Exports `registry`, which `bootstrap()` made.
    public init(registry: PrometheusCollectorRegistry, checker: CertificateStatusChecker?, ciba: (any CIBAStore)?) {
        self.registry = registry
        self.checker = checker
        self.ciba = ciba
        let hits = MetricNameDescriptor(
            metricName: "fapid_certificate_status_cache_hits", unitName: "total", helpText: "Client certificate status answers taken from the cache.")
        let misses = MetricNameDescriptor(
            metricName: "fapid_certificate_status_cache_misses", unitName: "total", helpText: "Client certificate status answers not in the cache.")
        let fetches = MetricNameDescriptor(
            metricName: "fapid_certificate_status_fetches", unitName: "total", helpText: "OCSP and CRL fetches, by kind and outcome.")
        let fallbacks = MetricNameDescriptor(
            metricName: "fapid_certificate_status_crl_fallbacks", unitName: "total", helpText: "Status checks that fell back from OCSP to the CRL.")
        statusCounters = [
            "hits": registry.makeCounter(descriptor: hits),
            "misses": registry.makeCounter(descriptor: misses),
            "ocsp_ok": registry.makeCounter(descriptor: fetches, labels: [("kind", "ocsp"), ("outcome", "ok")]),
            "ocsp_failed": registry.makeCounter(descriptor: fetches, labels: [("kind", "ocsp"), ("outcome", "failed")]),
            "crl_ok": registry.makeCounter(descriptor: fetches, labels: [("kind", "crl"), ("outcome", "ok")]),
            "crl_failed": registry.makeCounter(descriptor: fetches, labels: [("kind", "crl"), ("outcome", "failed")]),
            "fallbacks": registry.makeCounter(descriptor: fallbacks),
        ]
        cibaPending = registry.makeGauge(
            descriptor: MetricNameDescriptor(metricName: "fapid_ciba_pending", unitName: "requests", helpText: "CIBA requests awaiting a decision."))
    }

    /// The Prometheus text exposition, after pulling the values kept elsewhere.
    public func render() async -> [UInt8] {
        if let checker {
            let now = checker.statistics
            let before = exported.withLock { previous in
                let old = previous
                previous = now
                return old
            }
            func add(_ key: String, _ delta: Int) { if delta > 0 { statusCounters[key]?.increment(by: Int64(delta)) } }
            add("hits", now.cacheHits - before.cacheHits)
            add("misses", now.cacheMisses - before.cacheMisses)
            // The checker counts attempts and failures; successes are the difference.
            add("ocsp_ok", (now.ocspFetches - now.ocspFailures) - (before.ocspFetches - before.ocspFailures))
            add("ocsp_failed", now.ocspFailures - before.ocspFailures)
            add("crl_ok", (now.crlFetches - now.crlFailures) - (before.crlFetches - before.crlFailures))
            add("crl_failed", now.crlFailures - before.crlFailures)
            add("fallbacks", now.fallbacks - before.fallbacks)
        }
        if let ciba, let pending = try? await ciba.pendingCIBACount(now: Date()) { cibaPending.set(Double(pending)) }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }
}
