import CoreMetrics
import Synchronization

/// The server's counters, through swift-metrics (the daemon bootstraps a Prometheus backend; without
/// one they cost nothing). Handles are made once per label set and reused: no factory lookup per request.
public enum ServerMetrics {
    /// A reusable set of counters keyed by one label value; label values must come from a closed set.
    public final class CounterFamily: Sendable {
        let label: String
        let dimension: String
        let counters = Mutex<[String: Counter]>([:])

        public init(_ label: String, dimension: String) {
            self.label = label
            self.dimension = dimension
        }

        public func increment(_ value: String, by amount: Int64 = 1) {
            let counter = counters.withLock { all in
                if let existing = all[value] { return existing }
                let made = Counter(label: label, dimensions: [(dimension, value)])
                // A handle made before the daemon bootstraps its metrics backend would stay a no-op for good.
                if !ServerMetrics.unbootstrapped { all[value] = made }
                return made
            }
            counter.increment(by: amount)
        }
    }

    /// Timers (histograms in Prometheus) keyed by one label value from a closed set, made once each like `CounterFamily`.
    public final class TimerFamily: Sendable {
        let label: String
        let dimension: String
        let timers = Mutex<[String: CoreMetrics.Timer]>([:])

        public init(_ label: String, dimension: String) {
            self.label = label
            self.dimension = dimension
        }

        public func recordNanoseconds(_ value: String, _ nanoseconds: Int64) {
            let timer = timers.withLock { all in
                if let existing = all[value] { return existing }
                let made = CoreMetrics.Timer(label: label, dimensions: [(dimension, value)])
                if !ServerMetrics.unbootstrapped { all[value] = made }
                return made
            }
            timer.recordNanoseconds(nanoseconds)
        }
    }

    /// Whether no metrics backend is bootstrapped yet (handles made now would never record).
    static var unbootstrapped: Bool { MetricsSystem.factory is NOOPMetricsHandler }

    public static let tokensIssued = CounterFamily("fapid_tokens_issued_total", dimension: "grant_type")
    public static let clientAuthenticationFailures = CounterFamily("fapid_client_authentication_failures_total", dimension: "reason")
    public static let cibaDecisions = CounterFamily("fapid_ciba_decisions_total", dimension: "decision")
    /// Each signature by the server's keys, labelled by kid (a closed set: the server's own keys).
    public static let signingSeconds = TimerFamily("fapid_signing_seconds", dimension: "kid")
    public static let signingErrors = CounterFamily("fapid_signing_errors_total", dimension: "kid")
}
