import Hummingbird

/// Drops the RFC 9440 `Client-Cert` and `Client-Cert-Chain` headers of a request that did not come from a
/// trusted proxy, before any handler (or this server's logs) sees them: anyone else could name any certificate.
struct ClientCertificateHeaderMiddleware: RouterMiddleware {
    typealias Context = FapidRequestContext
    let certificates: ClientCertificateSource

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !certificates.isTrustedProxy(context.remoteAddress),
            request.headers[ClientCertificateSource.clientCertHeader] != nil
                || request.headers[ClientCertificateSource.clientCertChainHeader] != nil
        else { return try await next(request, context) }
        var head = request.head
        head.headerFields[ClientCertificateSource.clientCertHeader] = nil
        head.headerFields[ClientCertificateSource.clientCertChainHeader] = nil
        return try await next(Request(head: head, body: request.body), context)
    }
}
