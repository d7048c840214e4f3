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
                all[value] = made
                return made
            }
            counter.increment(by: amount)
        }
    }

    public static let tokensIssued = CounterFamily("fapid_tokens_issued_total", dimension: "grant_type")
    public static let clientAuthenticationFailures = CounterFamily("fapid_client_authentication_failures_total", dimension: "reason")
    public static let cibaDecisions = CounterFamily("fapid_ciba_decisions_total", dimension: "decision")
}
