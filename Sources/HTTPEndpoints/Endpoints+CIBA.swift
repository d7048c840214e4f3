import AuthorizationServer
import Hummingbird
import JOSE

extension Endpoints {
    func registerBackchannelAuthentication(_ service: BackchannelAuthenticationService, on router: Router<FapidRequestContext>) {
        router.post("/bc-authorize") { request, context in
            await OAuthResponse.handle(logger: context.logger) { () async throws(OAuthError) -> Response in
                let (parameters, credentials) = try await self.clientForm(request, context)
                let acknowledgement = try await service.request(parameters: parameters, credentials: credentials)
                var members: [String: JSON] = [
                    "auth_req_id": .string(acknowledgement.authReqID), "expires_in": .int(Int64(acknowledgement.expiresIn)),
                ]
                if let interval = acknowledgement.interval { members["interval"] = .int(Int64(interval)) }
                return OAuthResponse.json(members)
            }
        }
    }
}
