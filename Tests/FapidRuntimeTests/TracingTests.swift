import CertificateStatus
import FapidRuntime
import Foundation
import InMemoryTracing
import Logging
import NIOHTTP1
import TestSupport
import Testing
import Tracing

@testable import FapidRuntime
@testable import FapidTracing

/// Tracing's settings and its outgoing side: off unless configured, client spans around outgoing calls with
/// the trace context injected and URLs without their query.
@Suite("Tracing")
struct TracingTests {
    @Test("tracing is off by default; the endpoint, service name and protocol come from the file or FAPID_TRACING_*")
    func settings() throws {
        let defaults = try FapidConfiguration.load(file: nil, environment: [:])
        #expect(defaults.tracingOTLPEndpoint == nil)
        #expect(defaults.tracingServiceName == "fapid" && defaults.tracingOTLPProtocol == .protobuf)
        let set = try FapidConfiguration.load(
            file: nil,
            environment: [
                "FAPID_TRACING_OTLP_ENDPOINT": "http://127.0.0.1:4318/v1/traces", "FAPID_TRACING_SERVICE_NAME": "fapid-eu-1",
                "FAPID_TRACING_OTLP_PROTOCOL": "http/json",
            ])
        #expect(set.tracingOTLPEndpoint == "http://127.0.0.1:4318/v1/traces")
        #expect(set.tracingServiceName == "fapid-eu-1" && set.tracingOTLPProtocol == .json)
        #expect(set.summary.contains("tracing=otlp") && !defaults.summary.contains("tracing=otlp"))
    }

    @Test("a tracing endpoint that is not a plain http(s) URL refuses start-up, naming the key", arguments: [
        ("FAPID_TRACING_OTLP_ENDPOINT", "127.0.0.1:4318"), ("FAPID_TRACING_OTLP_ENDPOINT", "ftp://collector/v1/traces"),
        ("FAPID_TRACING_OTLP_ENDPOINT", "http://user:secret@collector/v1/traces"), ("FAPID_TRACING_OTLP_ENDPOINT", "http://collector/v1/traces?k=v"),
        ("FAPID_TRACING_OTLP_PROTOCOL", "grpc"), ("FAPID_TRACING_OTLP_ENDPOINT", "http://collector.example.net:4318/v1/traces"),
    ])
    func badSettings(variable: String, value: String) {
        #expect(throws: ConfigurationError.self) { try FapidConfiguration.load(file: nil, environment: [variable: value]) }
        do {
            _ = try FapidConfiguration.load(file: nil, environment: [variable: value])
        } catch {
            #expect(error.key == variable.dropFirst("FAPID_".count).lowercased())
        }
    }

    @Test("unset, no tracer is bootstrapped and the switch stays off")
    func notConfiguredBootstrapsNothing() async throws {
        try await TestTracing.run(on: false) { _ in
            let configuration = try FapidConfiguration.load(file: nil, environment: [:])
            #expect(try TracingBackend.bootstrap(configuration, logger: .init(label: "test")) == nil)
            #expect(!TracingSwitch.isOn)
        }
    }

    @Test("URLs lose their query, fragment and user info; store spans are named by store and method")
    func names() {
        #expect(Traced.safeURL("https://tpp.example.com/jwks?client_secret=s3cr3t#x") == "https://tpp.example.com/jwks")
        #expect(Traced.safeURL("https://user:pw@host:8443/cb?code=abc") == "https://host:8443/cb")
        #expect(Traced.safeURL("http://ocsp.example.com") == "http://ocsp.example.com")
        #expect(Traced.storeName("SQLiteStorage/SQLiteCodeStore.swift") == "SQLiteCodeStore")
        #expect(Traced.operationName("consume(codeHash:now:)") == "consume")
        // A TPP's URL is recorded as its origin: a webhook's path may be a capability.
        #expect(Traced.origin("https://user:pw@tpp.example.com:8443/hooks/s3cr3t-capability?x=1") == "https://tpp.example.com:8443")
        #expect(Traced.origin("not a url") == "")
    }

    @Test("a cleartext collector is accepted on loopback only")
    func loopbackCollector() throws {
        for endpoint in [
            "http://127.0.0.1:4318/v1/traces", "http://127.0.0.2:4318/v1/traces", "http://localhost:4318/v1/traces", "http://[::1]:4318/v1/traces",
            "https://collector.example.net/v1/traces",
        ] {
            let configuration = try FapidConfiguration.load(file: nil, environment: ["FAPID_TRACING_OTLP_ENDPOINT": endpoint])
            #expect(configuration.tracingOTLPEndpoint == endpoint)
        }
    }

    @Test("an outgoing call is a client span named by purpose and method, with the URL without its query and the error's type only")
    func outgoingSpan() async throws {
        let http = OutboundHTTPClient(extraRootsFile: nil, timeoutSeconds: 1)
        defer { Task { await http.shutdown() } }
        try await TestTracing.run(on: true) { tracer in
            try await Traced.span("test parent") { parent in
                await #expect(throws: StatusSourceFailure.self) {
                    _ = try await http.get("http://127.0.0.1:1/ca.crl?token=tok-secret-1", maximumSize: 1024)
                }
                let parentID = try #require(parent?.context.inMemorySpanContext?.spanID)
                let span = try #require(tracer.finishedSpans.first { $0.parentSpanID == parentID })
                #expect(span.operationName == "CRL GET" && span.kind == .client)
                #expect(span.attributes["url.full"]?.toSpanAttribute() == .string("http://127.0.0.1:1/ca.crl"))
                #expect(span.status?.code == .error && span.errors.isEmpty && span.events.isEmpty)
                var text = ""
                span.attributes.forEach { key, value in text += "\(key)=\(value) " }
                #expect(!text.contains("tok-secret-1"), "\(text)")
            }
        }
    }

    @Test("the outgoing request carries the span's trace context")
    func injection() async throws {
        try await TestTracing.run(on: true) { tracer in
            try await Traced.span("outgoing", kind: .client) { span in
                var headers = HTTPHeaders()
                InstrumentationSystem.instrument.inject(try #require(span).context, into: &headers, using: HTTPHeadersInjector())
                let context = try #require(span?.context.inMemorySpanContext)
                #expect(headers[InMemoryTracer.traceIDKey] == [context.traceID])
                #expect(headers[InMemoryTracer.spanIDKey] == [context.spanID])
            }
        }
    }
}
