import AuthorizationServer
import HTTPTypes
import Hummingbird
import Logging
import JOSE

extension Endpoints {
    func registerPushedAuthorization(_ service: PushedAuthorizationService, dpop: DPoPProofValidator?, on router: Router<FapidRequestContext>) {
        // RFC 9126 §2: POST only; other methods fall through to 404/405.
        router.post("/par") { request, context in
            // RFC 9449 §10.1: a proof at PAR binds the code to its key.
            let proof = self.dpopRequest(request, path: "/par")
            return self.withDPoPNonce(
                await OAuthResponse.handle(logger: context.logger) { () async throws(OAuthError) -> Response in
                    let (parameters, credentials) = try await self.clientForm(request, context)
                    let (uri, expiresIn) = try await service.push(parameters: parameters, credentials: credentials, proof: proof)
                    return OAuthResponse.json(["request_uri": .string(uri), "expires_in": .int(Int64(expiresIn))], status: .created)
                }, dpop, proof: proof)
        }
    }

    /// An authorization error at the browser: back to the client when it may be (`AuthorizationError.redirect`,
    /// RFC 6749 §4.1.2.1), otherwise an error page that shows the OAuth code too, since the client never sees it.
    static func refusal(_ error: AuthorizationError, logger: Logger) -> Response {
        OAuthResponse.log(error.error, logger: logger)
        if let redirect = error.redirect { return deliver(redirect) }
        return page(Pages.error, ["message": error.error.description, "code": error.error.code.rawValue], status: .badRequest)
    }
}
