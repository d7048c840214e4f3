import AuthorizationServer
import HTTPTypes
import Hummingbird
import JOSE
import Logging

extension Endpoints {
    func registerBackchannelAuthentication(_ service: BackchannelAuthenticationService, on router: Router<FapidRequestContext>) {
        router.post("/bc-authorize") { request, context in
            do throws(CIBAError) {
                let parameters: [String: String]
                do throws(OAuthError) { parameters = try await FormBody.read(request) } catch { throw CIBAError(.invalidRequest, error.description) }
                let credentials = await self.credentials(parameters, request, context)
                let acknowledgement = try await service.request(parameters: parameters, credentials: credentials)
                var members: [String: JSON] = [
                    "auth_req_id": .string(acknowledgement.authReqID), "expires_in": .int(Int64(acknowledgement.expiresIn)),
                ]
                if let interval = acknowledgement.interval { members["interval"] = .int(Int64(interval)) }
                return OAuthResponse.json(members)
            } catch {
                context.logger.info("backchannel request refused", metadata: ["error": "\(error.code.rawValue)", "detail": "\(error.detail)"])
                var response = OAuthResponse.json(
                    ["error": .string(error.code.rawValue), "error_description": .string(error.description)],
                    status: HTTPResponse.Status(code: error.status))
                if error.code == .invalidClient { response.headers[.wwwAuthenticate] = #"Bearer realm="fapid", error="invalid_client""# }
                return response
            }
        }
    }
}
