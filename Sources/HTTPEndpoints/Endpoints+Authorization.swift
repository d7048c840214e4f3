import AuthorizationServer
import HTTPTypes
import Hummingbird
import JOSE

extension Endpoints {
    func registerPushedAuthorization(_ service: PushedAuthorizationService, on router: Router<FapidRequestContext>) {
        // RFC 9126 §2: POST only; other methods fall through to 404/405.
        router.post("/par") { request, context in
            await OAuthResponse.handle(logger: context.logger) { () async throws(OAuthError) -> Response in
                let parameters = try await FormBody.read(request)
                let credentials = await self.credentials(parameters, request, context)
                let (uri, expiresIn) = try await service.push(parameters: parameters, credentials: credentials)
                return OAuthResponse.json(["request_uri": .string(uri), "expires_in": .int(Int64(expiresIn))], status: .created)
            }
        }
    }
}
