import AuthorizationServer
import FapidTracing
import HTTPTypes
import Hummingbird
import Instrumentation
import Tracing

/// A server span per request when tracing is on (`TracingSwitch`), continuing the caller's W3C trace
/// (`traceparent`, `tracestate`). It is named by method and route template (`POST /token`,
/// `GET /register/{client_id}`), never by the path as sent, and carries only: the method, the route, the status,
/// the `x-fapi-interaction-id` and the client id the core authenticated (`RequestClient`). No query string, no
/// body, no header value: those carry codes, tokens, assertions and request objects. Off, it passes the request
/// straight on.
struct RequestTracingMiddleware: RouterMiddleware {
    typealias Context = FapidRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard TracingSwitch.isOn else { return try await next(request, context) }
        var parent = InstrumentationContext.topLevel
        InstrumentationSystem.instrument.extract(request.headers, into: &parent, using: HTTPFieldsExtractor())
        let method = Self.method(request.method)
        let span = startSpan("\(method) unmatched", context: parent, ofKind: .server)
        defer { span.end() }
        let client = RequestClient()
        var audit = AuditContext.current ?? AuditContext(interactionID: InteractionID.make(), source: context.remoteAddress)
        audit.client = client
        span.attributes["http.request.method"] = method
        span.attributes["fapi.interaction_id"] = audit.interactionID
        do {
            let response = try await InstrumentationContext.$current.withValue(span.context) {
                try await Traced.$insideSpan.withValue(true) {
                    try await AuditContext.$current.withValue(audit) { try await next(request, context) }
                }
            }
            finish(span, method: method, context: context, client: client, status: Int(response.status.code))
            return response
        } catch {
            let status = (error as? any HTTPResponseError).map { Int($0.status.code) } ?? 500
            finish(span, method: method, context: context, client: client, status: status)
            span.attributes["error.type"] = String(describing: type(of: error))
            throw error
        }
    }

    /// The method as the semantic conventions record it: a known one, or `_OTHER` (a client's own method would make
    /// span names without bound).
    static func method(_ method: HTTPRequest.Method) -> String {
        switch method {
        case .get, .post, .put, .delete, .head, .options, .patch, .connect, .trace: method.rawValue
        default: "_OTHER"
        }
    }

    func finish(_ span: any Span, method: String, context: Context, client: RequestClient, status: Int) {
        let route = context.endpointPath ?? "unmatched"
        span.operationName = "\(method) \(route)"
        span.attributes["http.route"] = route
        span.attributes["http.response.status_code"] = status
        if let clientID = client.clientID { span.attributes["oauth.client_id"] = clientID }
        if status >= 500 { span.setStatus(SpanStatus(code: .error)) }
    }
}

/// Reads the W3C trace context headers the propagator asks for; nothing else is read.
struct HTTPFieldsExtractor: Extractor {
    func extract(key name: String, from headers: HTTPFields) -> String? {
        guard let field = HTTPField.Name(name) else { return nil }
        return headers[field]
    }
}
