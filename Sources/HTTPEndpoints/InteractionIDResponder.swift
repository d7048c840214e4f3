import AuthorizationServer
import CoreMetrics
import Foundation
public import HTTPTypes
public import Hummingbird
import JOSE
import Logging
import NIOCore
import Synchronization

/// Wraps the whole router, so that every request, whichever route answers it (errors and 404s too):
/// - carries `x-fapi-interaction-id` (FAPI 1 Baseline §6.2.1-11): the client's value when it sent a valid
///   UUID, a fresh UUID otherwise; it is also put on every log line and audit event of the request;
/// - loses RFC 9440 certificate headers that did not come from a trusted proxy, before any handler sees them;
/// - is throttled on the endpoints that take client authentication (429 and `Retry-After`);
/// - is counted and timed for `/metrics`, which this wrapper also answers (loopback peers only).
public struct InteractionIDResponder<Base: HTTPResponder>: HTTPResponder where Base.Context == FapidRequestContext {
    public typealias Context = FapidRequestContext
    public static var header: HTTPField.Name { HTTPField.Name("x-fapi-interaction-id")! }
    static var strictTransportSecurity: HTTPField.Name { HTTPField.Name("Strict-Transport-Security")! }
    static var hstsPolicy: String { "max-age=31536000" }

    let base: Base
    let certificates: ClientCertificateSource
    let limits: RateLimits
    let metrics: MetricsEndpoint?

    public func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        var request = request
        if !certificates.isTrustedProxy(context.remoteAddress),
            request.headers[ClientCertificateSource.clientCertHeader] != nil
                || request.headers[ClientCertificateSource.clientCertChainHeader] != nil
        {
            var head = request.head
            head.headerFields[ClientCertificateSource.clientCertHeader] = nil
            head.headerFields[ClientCertificateSource.clientCertChainHeader] = nil
            request = Request(head: head, body: request.body)
        }
        let interactionID = request.headers[Self.header].flatMap { InteractionID.isValid($0) ? $0 : nil } ?? InteractionID.make()
        let endpoint = RequestMetrics.endpoint(request.uri.path)
        let source = await sourceAddress(request, context: context)
        var response: Response
        let audit = AuditContext(interactionID: interactionID, source: source)
        do {
            response = try await AuditContext.$current.withValue(audit) { () async throws -> Response in
                if let throttled = await throttle(request, context: context, endpoint: endpoint, source: source) { return throttled }
                if endpoint == "/metrics", let metrics { return await metrics.respond(request, context: context) }
                return try await base.respond(to: request, context: context)
            }
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        } catch {
            // Anything unexpected is a bare server_error; the type goes to the log only.
            response = OAuthResponse.error(.server("unhandled \(String(reflecting: type(of: error)))"), logger: context.logger)
        }
        response.headers[Self.header] = interactionID
        // RFC 6797: every response of this (HTTPS-only) server tells browsers to use HTTPS only.
        response.headers[Self.strictTransportSecurity] = Self.hstsPolicy
        RequestMetrics.record(endpoint: endpoint, status: response.status.code, duration: ContinuousClock.now - started)
        return response
    }

    /// The client's address: the socket peer, or for a trusted proxy the last `X-Forwarded-For` hop it added.
    func sourceAddress(_ request: Request, context: Context) async -> String? {
        // With pinned proxy certificates, X-Forwarded-For counts only from an authenticated hop, as Client-Cert does.
        guard let forwarded = request.headers[.forwardedFor],
            await certificates.isAuthenticatedProxy(channel: context.channel, remoteAddress: context.remoteAddress)
        else {
            return context.remoteAddress
        }
        let last = forwarded.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) }
        return (last?.isEmpty ?? true) ? context.remoteAddress : last
    }

    /// 429 when the source address or the client (its TLS certificate) has used up its bucket; for the PSU's
    /// browser endpoints, when the source address has (as an HTML page).
    func throttle(_ request: Request, context: Context, endpoint: String, source: String?) async -> Response? {
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

extension HTTPField.Name {
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
}

/// Request counts by endpoint and status, and latency histograms by endpoint. Label values come from a
/// closed set of paths; anything else is `other`.
enum RequestMetrics {
    static let paths: Set<String> = [
        "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks", "/healthz", "/metrics", "/par", "/authorize",
        "/authorize/login", "/authorize/consent", "/token", "/introspect", "/revoke", "/bc-authorize", "/register", "/userinfo",
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

/// `/metrics` on the main port: the Prometheus text, to loopback peers only.
public struct MetricsEndpoint: Sendable {
    let render: @Sendable () async -> [UInt8]
    let trustedProxy: @Sendable (String) -> Bool

    public init(render: @escaping @Sendable () async -> [UInt8], trustedProxies: [String] = []) {
        self.render = render
        let proxies = Set(trustedProxies)
        trustedProxy = { proxies.contains($0) }
    }

    func respond(_ request: Request, context: FapidRequestContext) async -> Response {
        guard request.method == .get else { return JSONResponse.make(status: .methodNotAllowed, ["error": "invalid_request"]) }
        // A trusted proxy's connections come from loopback too, on behalf of anyone: not for metrics.
        guard let peer = context.remoteAddress, peer.hasPrefix("127.") || peer == "::1", !trustedProxy(peer) else {
            return JSONResponse.make(status: .notFound, ["error": "not_found"])
        }
        return Self.response(await render())
    }

    public static func response(_ body: [UInt8]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// `x-fapi-interaction-id` values: RFC 4122 UUIDs. Made from OpenSSL's generator (Foundation's `UUID()`
/// opens and reads `/dev/urandom` on every call, a measurable share of a request here).
enum InteractionID {
    /// A fresh version-4 UUID, lowercase.
    static func make() -> String {
        var bytes = Crypto.randomBytes(16)
        bytes[6] = bytes[6] & 0x0f | 0x40
        bytes[8] = bytes[8] & 0x3f | 0x80
        var text = Array(Crypto.hex(bytes).utf8)
        for position in [20, 16, 12, 8] { text.insert(UInt8(ascii: "-"), at: position) }
        return String(decoding: text, as: UTF8.self)
    }

    /// Whether `value` is a UUID in its 8-4-4-4-12 hexadecimal form (either case).
    static func isValid(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                guard byte == UInt8(ascii: "-") else { return false }
            } else {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"): continue
                default: return false
                }
            }
        }
        return true
    }
}

/// The essence of a `Content-Type` (RFC 9110 §8.3.1): type/subtype, lowercased, without parameters or
/// surrounding white space, in ASCII without Foundation.
enum MediaType {
    static func essence(_ value: String?) -> String {
        guard let value else { return "" }
        var bytes = Array(value.utf8.prefix { $0 != UInt8(ascii: ";") })
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes.removeLast() }
        let start = bytes.firstIndex { $0 != 0x20 && $0 != 0x09 } ?? bytes.endIndex
        return String(decoding: bytes[start...].map { $0 >= 0x41 && $0 <= 0x5a ? $0 + 0x20 : $0 }, as: UTF8.self)
    }
}
