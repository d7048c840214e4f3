import FapidTracing
import Foundation
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
        // Every request is recorded whatever its caller's `traceparent` flags say: a TPP must not be able to drop
        // its own requests from the trace, nor force a flood of them into it.
        otel.traces.sampler = .alwaysOn
        otel.diagnosticLogger = .custom(logger)
        otel.diagnosticLogLevel = .warning
        // swift-otel lets OTEL_* variables override this configuration (another endpoint without our checks, a console
        // exporter, a baggage propagator): fapid's settings are the only ones, so those variables are removed first.
        let ignored = ProcessInfo.processInfo.environment.keys.filter { $0.hasPrefix("OTEL_") }.sorted()
        for name in ignored { unsetenv(name) }
        if !ignored.isEmpty { logger.warning("tracing: OTEL_* variables are ignored", metadata: ["ignored": "\(ignored.joined(separator: " "))"]) }
        let backend = try OTel.makeTracingBackend(configuration: otel)
        InstrumentationSystem.bootstrap(backend.factory)
        TracingSwitch.set(true)
        logger.notice("tracing on", metadata: ["otlp_endpoint": "\(Traced.safeURL(endpoint))", "service_name": "\(configuration.tracingServiceName)"])
        return backend.service
    }
}
