public import Hummingbird
import HTTPTypes
import NIOCore
import JOSE

/// Answers `/metrics` when the metrics are served on the main port; passes every other request on.
struct MetricsEndpointMiddleware: RouterMiddleware {
    typealias Context = FapidRequestContext
    let metrics: MetricsEndpoint?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let metrics, context.endpoint(of: request) == "/metrics" { return await metrics.respond(request, context: context) }
        return try await next(request, context)
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

