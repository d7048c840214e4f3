import AuthorizationServer
import HTTPTypes
import Hummingbird
import JOSE
import NIOCore

extension Endpoints {
    /// Grant Management (draft -02 §6) at `/grants/{grant_id}`, and the resource servers' `POST /consents`.
    func registerGrantEndpoints(_ services: TokenEndpointServices, on router: Router<FapidRequestContext>) {
        if let grants = services.grantManagement {
            router.get("/grants/:grant_id") { request, context in
                await self.grantManagement(request, context) { grantID, token, scheme, certificate throws(GrantManagementService.Refusal) in
                    try await grants.query(grantID: grantID, accessToken: token, scheme: scheme, certificate: certificate)
                }
            }
            router.delete("/grants/:grant_id") { request, context in
                await self.grantManagement(request, context) { grantID, token, scheme, certificate throws(GrantManagementService.Refusal) in
                    try await grants.revoke(grantID: grantID, accessToken: token, scheme: scheme, certificate: certificate)
                }
            }
        }
        if let consents = services.consents {
            // An intent created by a resource server (mTLS, authenticated as at /introspect) for a client to name in
            // its authorization request as `openbanking_intent_id`.
            router.post("/consents") { request, context in
                await OAuthResponse.handle(logger: context.logger) { () async throws(OAuthError) -> Response in
                    let certificate = await self.clientCertificate(request, context: context)
                    _ = try await services.introspection.authenticate(certificate)
                    guard MediaType.essence(request.headers[.contentType]) == "application/json" else {
                        throw OAuthError(.invalidRequest, "Content-Type must be application/json")
                    }
                    let body: [UInt8]
                    do { body = Array(try await request.body.collect(upTo: FormBody.maximumSize).readableBytesView) } catch {
                        throw OAuthError(.invalidRequest, "request body too large or unreadable")
                    }
                    guard let parsed = try? JSON.parse(body), let object = parsed.objectValue else {
                        throw OAuthError(.invalidRequest, "the body must be a JSON object")
                    }
                    guard object["client_id"] == nil || object["client_id"]?.stringValue != nil else {
                        throw OAuthError(.invalidRequest, "client_id must be a string")
                    }
                    let consent = try await consents.createIntent(
                        clientID: object["client_id"]?.stringValue, details: object["authorization_details"])
                    return OAuthResponse.json(
                        ["consent_id": .string(consent.id), "status": .string(consent.status.rawValue)], status: .created)
                }
            }
        }
    }

    /// One Grant Management request: the path's grant id, the access token (Bearer or DPoP with its proof) and the
    /// connection's certificate; 200 with the grant, 204 once revoked, 404 unknown (or another client's), 401/403,
    /// 503 `temporarily_unavailable` (no challenge) when storage cannot answer.
    func grantManagement(
        _ request: Request, _ context: FapidRequestContext,
        _ body: (String, String?, UserinfoService.Scheme, ClientCertificate?) async throws(GrantManagementService.Refusal) ->
            GrantManagementService.Answer
    ) async -> Response {
        let grantID = context.parameters.get("grant_id") ?? ""
        let certificate = await clientCertificate(request, context: context)
        let path = GrantManagementService.path + "/" + grantID
        let token: String?
        let scheme: UserinfoService.Scheme
        let proof: DPoPRequest?
        if let presented = Self.dpopAuthorization(request) {
            let dpopRequest = dpopRequest(request, path: path)
            (token, scheme, proof) = (presented, .dpop(dpopRequest), dpopRequest)
        } else {
            (token, scheme, proof) = (Self.bearer(request), .bearer, nil)
        }
        let response: Response
        do throws(GrantManagementService.Refusal) {
            switch try await body(grantID, token, scheme, certificate) {
            case .grant(let document): response = OAuthResponse.json(document)
            case .revoked:
                var empty = Response(status: .noContent)
                empty.headers[.cacheControl] = "no-store"
                response = empty
            case .notFound:
                response = OAuthResponse.render(OAuthError(.invalidGrantID, "the grant is unknown"), status: .notFound)
            }
        } catch {
            switch error {
            case .invalidToken(let refusal):
                OAuthResponse.log(refusal, logger: context.logger)
                response = proof == nil ? OAuthResponse.render(refusal) : OAuthResponse.resourceDPoPError(refusal)
            case .insufficientScope(let scope):
                var refused = OAuthResponse.json(
                    ["error": "insufficient_scope", "error_description": .string("the access token needs scope \(scope)")], status: .forbidden)
                refused.headers[.wwwAuthenticate] = #"Bearer realm="fapid", error="insufficient_scope", scope="\#(scope)""#
                response = refused
            case .unavailable(let failure):
                // Storage trouble: 503 without a challenge (the token was not judged).
                response = OAuthResponse.error(failure, logger: context.logger)
            }
        }
        guard let proof else { return response }
        return withDPoPNonce(response, tokenServices?.dpop, proof: proof)
    }
}
