import CoreMetrics
import Hummingbird
import Synchronization

/// Counts and times every request by endpoint and status, for `/metrics`. The steps inside it never throw
/// (`InteractionIDMiddleware` turns errors into responses), so the status counted is the one sent.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = FapidRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let endpoint = RequestMetrics.endpoint(request.uri.path)
        var context = context
        context.routedEndpoint = endpoint
        let response = try await next(request, context)
        RequestMetrics.record(endpoint: endpoint, status: response.status.code, duration: ContinuousClock.now - started)
        return response
    }
}

/// Request counts by endpoint and status, and latency histograms by endpoint. Label values come from a
/// closed set of paths; anything else is `other`.
enum RequestMetrics {
    static let paths: Set<String> = [
        "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks", "/healthz", "/metrics", "/par", "/authorize",
        "/authorize/login", "/authorize/consent", "/token", "/introspect", "/revoke", "/bc-authorize", "/register", "/userinfo",
        "/consents", "/account/consents", "/account/consents/login",
    ]

    /// The route a path reaches. The router ignores empty segments (`//token`, `/token/`), so they are
    /// dropped here too: a respelled path must not escape throttling.
    static func endpoint(_ path: String) -> String {
        if paths.contains(path) { return path }
        if path.contains("//") || (path.count > 1 && path.hasSuffix("/")) {
            let normalised = "/" + path.split(separator: "/").joined(separator: "/")
            if normalised != path { return endpoint(normalised) }
        }
        if path.hasPrefix("/register/") { return "/register/{client_id}" }
        return "other"
    }

    struct Key: Hashable {
        let endpoint: String
        let status: Int
    }

    private static let counters = Mutex<[Key: Counter]>([:])
    private static let timers = Mutex<[String: CoreMetrics.Timer]>([:])
    private static let throttles = Mutex<[String: Counter]>([:])

    static func record(endpoint: String, status: Int, duration: Duration) {
        let key = Key(endpoint: endpoint, status: status)
        let counter = counters.withLock { all in
            if let existing = all[key] { return existing }
            let made = Counter(label: "fapid_http_requests_total", dimensions: [("endpoint", endpoint), ("status", String(status))])
            all[key] = made
            return made
        }
        counter.increment()
        let timer = timers.withLock { all in
            if let existing = all[endpoint] { return existing }
            let made = CoreMetrics.Timer(label: "fapid_http_request_duration_seconds", dimensions: [("endpoint", endpoint)])
            all[endpoint] = made
            return made
        }
        timer.recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    static func throttled(endpoint: String, limit: String) {
        let key = "\(endpoint) \(limit)"
        let counter = throttles.withLock { all in
            if let existing = all[key] { return existing }
            let made = Counter(label: "fapid_throttled_requests_total", dimensions: [("endpoint", endpoint), ("limit", limit)])
            all[key] = made
            return made
        }
        counter.increment()
    }
}

