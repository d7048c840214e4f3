import AuthorizationServer
import Hummingbird

/// 429 when the source address or the client (its TLS certificate) has used up its bucket on an endpoint that
/// takes client authentication; for the PSU's browser endpoints, when the source address has (as an HTML
/// page). The source address is the request's `AuditContext` one (the forwarded address behind a trusted proxy).
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = FapidRequestContext
    let certificates: ClientCertificateSource
    let limits: RateLimits

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let throttled = await throttle(request, context: context) { return throttled }
        return try await next(request, context)
    }

    func throttle(_ request: Request, context: Context) async -> Response? {
        let endpoint = context.endpoint(of: request)
        let source = AuditContext.current?.source ?? context.remoteAddress
        if let browser = limits.browser(method: request.method, endpoint: endpoint) {
            guard let source, let wait = browser.take(endpoint + " " + source) else { return nil }
            RequestMetrics.throttled(endpoint: endpoint, limit: "address")
            return Endpoints.throttledPage(retryAfter: wait)
        }
        guard request.method == .post, RateLimits.paths.contains(endpoint) else { return nil }
        if let perAddress = limits.perAddress, let source, let wait = perAddress.take(endpoint + " " + source) {
            RequestMetrics.throttled(endpoint: endpoint, limit: "address")
            return Self.tooManyRequests(wait)
        }
        // A client is known by its certificate: keying on an unauthenticated client_id would let anyone
        // drain another client's bucket.
        if let perClient = limits.perClient,
            let certificate = await certificates.certificate(channel: context.channel, headers: request.headers, remoteAddress: context.remoteAddress),
            let wait = perClient.take(endpoint + " " + certificate.thumbprint)
        {
            RequestMetrics.throttled(endpoint: endpoint, limit: "client")
            return Self.tooManyRequests(wait)
        }
        return nil
    }

    static func tooManyRequests(_ seconds: Int) -> Response {
        var response = OAuthResponse.render(
            OAuthError(.temporarilyUnavailable, "too many requests; retry after \(seconds) s"), status: .tooManyRequests)
        response.headers[.retryAfter] = String(seconds)
        return response
    }
}
