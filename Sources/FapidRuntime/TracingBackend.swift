import FapidTracing
public import Logging
import OTel
public import ServiceLifecycle
import Tracing

/// The OpenTelemetry side of tracing, and the only code that knows about it: when `tracing_otlp_endpoint` is
/// set, a tracer exporting spans over OTLP/HTTP in batches (swift-otel), W3C trace context as the propagator,
/// and `TracingSwitch` on. Unset, nothing is bootstrapped and the switch stays off, so no span is ever made.
public enum TracingBackend {
    /// The exporter's service (run it first in the service group, so it stops last and flushes the spans of
    /// the requests served before shutdown), or nil when tracing is not configured.
    public static func bootstrap(_ configuration: FapidConfiguration, logger: Logger) throws -> (any Service)? {
        guard let endpoint = configuration.tracingOTLPEndpoint else { return nil }
        var otel = OTel.Configuration.default
        otel.serviceName = configuration.tracingServiceName
        otel.logs.enabled = false
        otel.metrics.enabled = false
        otel.traces.enabled = true
        otel.traces.exporter = .otlp
        otel.traces.otlpExporter.endpoint = endpoint
        otel.traces.otlpExporter.protocol = configuration.tracingOTLPProtocol == .json ? .httpJSON : .httpProtobuf
        otel.propagators = [.traceContext]
        otel.diagnosticLogger = .custom(logger)
        otel.diagnosticLogLevel = .warning
        let backend = try OTel.makeTracingBackend(configuration: otel)
        InstrumentationSystem.bootstrap(backend.factory)
        TracingSwitch.set(true)
        logger.notice("tracing on", metadata: ["otlp_endpoint": "\(Traced.safeURL(endpoint))", "service_name": "\(configuration.tracingServiceName)"])
        return backend.service
    }
}
