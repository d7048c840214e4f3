import Hummingbird

/// What wraps the whole router, outermost first, so that every request, whichever route answers it (errors and
/// 404s too), passes the same steps, each a named middleware in its own file:
/// 1. `RequestMetricsMiddleware`: counts and times it for `/metrics`;
/// 2. `ClientCertificateHeaderMiddleware`: drops RFC 9440 certificate headers that did not come from a
///    trusted proxy, before anything reads them;
/// 3. `InteractionIDMiddleware`: gives it its `x-fapi-interaction-id` and audit context, turns errors into
///    responses, and adds the headers every response carries;
/// 4. `RequestTracingMiddleware`: a trace span per request when tracing is on (inside the interaction id, so
///    the span carries it; a no-op otherwise);
/// 5. `RateLimitMiddleware`: throttles the endpoints that take client authentication and the PSU's pages;
/// 6. `MetricsEndpointMiddleware`: answers `/metrics` (loopback peers only) when it is served on this port.
/// The chain is built of concrete types (no existential per step), so it costs what one wrapper did.
enum EdgePipeline {
    static func responder<Router: HTTPResponder>(
        router: Router, certificates: ClientCertificateSource, limits: RateLimits, metrics: MetricsEndpoint?
    ) -> some HTTPResponder<FapidRequestContext> where Router.Context == FapidRequestContext {
        Layer(RequestMetricsMiddleware(),
            Layer(ClientCertificateHeaderMiddleware(certificates: certificates),
                Layer(InteractionIDMiddleware(certificates: certificates),
                    Layer(RequestTracingMiddleware(),
                        Layer(RateLimitMiddleware(certificates: certificates, limits: limits),
                            Layer(MetricsEndpointMiddleware(metrics: metrics), router))))))
    }
}

/// One middleware in front of the responder it passes requests on to.
struct Layer<Middleware: RouterMiddleware<FapidRequestContext>, Next: HTTPResponder>: HTTPResponder
where Next.Context == FapidRequestContext {
    let middleware: Middleware
    let next: Next

    init(_ middleware: Middleware, _ next: Next) {
        self.middleware = middleware
        self.next = next
    }

    func respond(to request: Request, context: FapidRequestContext) async throws -> Response {
        try await middleware.handle(request, context: context) { request, context in try await next.respond(to: request, context: context) }
    }
}
