import AuthorizationServer
import FapidTracing
import HTTPTypes
import Hummingbird
import InMemoryTracing
import Logging
import NIOCore
import NIOEmbedded
import TestSupport
import Testing
import Tracing

@testable import HTTPEndpoints

/// The request span: made only when tracing is on, continuing the caller's trace, named by route template and
/// holding only the method, route, status, interaction id and authenticated client id.
@Suite("RequestTracingMiddleware")
struct RequestTracingMiddlewareTests {
    static let interactionID = "0b7a3c1e-4a5b-4c6d-8e9f-0123456789ab"

    static func context() -> FapidRequestContext {
        FapidRequestContext(source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: Logger(label: "test")))
    }

    static func request(_ path: String, headers: HTTPFields = [:]) -> Request {
        Request(head: HTTPRequest(method: .post, scheme: "https", authority: "localhost", path: path, headerFields: headers), body: .init(buffer: .init()))
    }

    /// Runs the middleware as the pipeline does (inside an interaction id); the handler reaches `route`, notes
    /// `client` the way the core does after authentication, and answers `status` or throws `error`.
    static func serve(
        _ request: Request, route: String?, client: String? = nil, status: HTTPResponse.Status = .ok, error: (any Error)? = nil
    ) async throws -> Response {
        let context = Self.context()
        return try await AuditContext.$current.withValue(AuditContext(interactionID: interactionID, source: "192.0.2.1")) {
            try await RequestTracingMiddleware().handle(request, context: context) { _, context in
                if let route { context.coreContext.endpointPath.value = route }
                if let client { AuditContext.current?.client?.note(client) }
                if let error { throw error }
                return Response(status: status)
            }
        }
    }

    static func spans(_ tracer: InMemoryTracer, marker: String) -> [FinishedInMemorySpan] {
        tracer.finishedSpans.filter { $0.attributes["fapi.interaction_id"]?.toSpanAttribute() == .string(marker) || $0.traceID == marker }
    }

    @Test("off, no span is made and the handler runs all the same")
    func offMakesNoSpan() async throws {
        try await TestTracing.run(on: false) { tracer in
            let before = tracer.finishedSpans.count + tracer.activeSpans.count
            let response = try await Self.serve(Self.request("/token"), route: "/token", client: "client-off")
            #expect(response.status == .ok)
            #expect(tracer.finishedSpans.count + tracer.activeSpans.count == before)
        }
    }

    @Test("on, one server span named by the route template, continuing the caller's trace, with the interaction and client ids")
    func spanContinuesTheCallersTrace() async throws {
        try await TestTracing.run(on: true) { tracer in
            var headers = HTTPFields()
            headers[HTTPField.Name(InMemoryTracer.traceIDKey)!] = "trace-from-caller-1"
            headers[HTTPField.Name(InMemoryTracer.spanIDKey)!] = "span-of-caller-1"
            let response = try await Self.serve(
                Self.request("/register/client-raw-path?code=secret-code-value", headers: headers), route: "/register/{client_id}",
                client: "client-42")
            #expect(response.status == .ok)
            let span = try #require(Self.spans(tracer, marker: "trace-from-caller-1").first)
            #expect(span.operationName == "POST /register/{client_id}")
            #expect(span.kind == .server)
            #expect(span.parentSpanID == "span-of-caller-1")
            #expect(span.attributes["fapi.interaction_id"]?.toSpanAttribute() == .string(Self.interactionID))
            #expect(span.attributes["oauth.client_id"]?.toSpanAttribute() == .string("client-42"))
            #expect(span.attributes["http.route"]?.toSpanAttribute() == .string("/register/{client_id}"))
            #expect(span.attributes["http.response.status_code"]?.toSpanAttribute() == .int64(200))
            // Nothing of the raw target: neither the path as sent nor its query.
            var values: [String] = []
            span.attributes.forEach { key, value in values.append("\(key)=\(value)") }
            #expect(!values.joined().contains("secret-code-value") && !values.joined().contains("client-raw-path"), "\(values)")
        }
    }

    @Test("an unauthenticated request has no client id; an unmatched path is named unmatched, not by its path")
    func unmatchedAndAnonymous() async throws {
        try await TestTracing.run(on: true) { tracer in
            var headers = HTTPFields()
            headers[HTTPField.Name(InMemoryTracer.traceIDKey)!] = "trace-unmatched-2"
            headers[HTTPField.Name(InMemoryTracer.spanIDKey)!] = "span-2"
            _ = try await Self.serve(Self.request("/no/such/tok_abcdef", headers: headers), route: nil, status: .notFound)
            let span = try #require(Self.spans(tracer, marker: "trace-unmatched-2").first)
            #expect(span.operationName == "POST unmatched")
            #expect(span.attributes["oauth.client_id"] == nil)
            #expect(span.attributes["http.response.status_code"]?.toSpanAttribute() == .int64(404))
        }
    }

    @Test("a method of the client's own is recorded as _OTHER, a known one as itself")
    func unknownMethod() {
        #expect(RequestTracingMiddleware.method(.post) == "POST")
        #expect(RequestTracingMiddleware.method(HTTPRequest.Method("BREW")!) == "_OTHER")
    }

    struct Leaky: Error, CustomStringConvertible {
        var description: String { "refresh token rt-secret-value was wrong" }
    }

    @Test("a thrown error is a 500 span with the error's type only, never its text")
    func errorTextIsNotRecorded() async throws {
        try await TestTracing.run(on: true) { tracer in
            var headers = HTTPFields()
            headers[HTTPField.Name(InMemoryTracer.traceIDKey)!] = "trace-error-3"
            headers[HTTPField.Name(InMemoryTracer.spanIDKey)!] = "span-3"
            await #expect(throws: Leaky.self) { try await Self.serve(Self.request("/token", headers: headers), route: "/token", error: Leaky()) }
            let span = try #require(Self.spans(tracer, marker: "trace-error-3").first)
            #expect(span.status?.code == .error)
            #expect(span.attributes["http.response.status_code"]?.toSpanAttribute() == .int64(500))
            #expect(span.errors.isEmpty && span.events.isEmpty)
            var values: [String] = []
            span.attributes.forEach { key, value in values.append("\(key)=\(value)") }
            #expect(!values.joined().contains("rt-secret-value"), "\(values)")
        }
    }
}
