public import AuthorizationServer
import HTTPTypes
import Hummingbird
import JOSE

/// The token path's services, handed to the endpoints.
public struct TokenEndpointServices: Sendable {
    public let token: TokenService
    public let introspection: IntrospectionService
    public let revocation: RevocationService
    public let pushedAuthorization: PushedAuthorizationService?
    public let userinfo: UserinfoService?
    public let backchannel: BackchannelAuthenticationService?
    /// RFC 9449: the proof checks (for the `DPoP-Nonce` header the edge sends); nil when DPoP is off.
    public let dpop: DPoPProofValidator?
    /// RFC 9701 signed introspection responses (nil: JSON only).
    public let introspectionJWT: IntrospectionResponseJWT?
    /// Grant Management (draft -02 §6) at `/grants/{grant_id}`; nil: not offered.
    public let grantManagement: GrantManagementService?
    /// Consents: the resource servers' `POST /consents`; nil: not offered.
    public let consents: ConsentService?

    public init(
        token: TokenService, introspection: IntrospectionService, revocation: RevocationService,
        pushedAuthorization: PushedAuthorizationService? = nil, userinfo: UserinfoService? = nil,
        backchannel: BackchannelAuthenticationService? = nil, dpop: DPoPProofValidator? = nil,
        introspectionJWT: IntrospectionResponseJWT? = nil, grantManagement: GrantManagementService? = nil, consents: ConsentService? = nil
    ) {
        self.grantManagement = grantManagement
        self.consents = consents
        self.dpop = dpop
        self.introspectionJWT = introspectionJWT
        self.backchannel = backchannel
        self.userinfo = userinfo
        self.token = token
        self.introspection = introspection
        self.revocation = revocation
        self.pushedAuthorization = pushedAuthorization
    }
}

extension Endpoints {
    func registerTokenEndpoints(_ services: TokenEndpointServices, on router: Router<FapidRequestContext>) {
        if let par = services.pushedAuthorization { registerPushedAuthorization(par, dpop: services.dpop, on: router) }
        if let backchannel = services.backchannel { registerBackchannelAuthentication(backchannel, on: router) }
        registerGrantEndpoints(services, on: router)
        if let userinfo = services.userinfo {
            // OIDC Core §5.3.1: GET and POST; the token only in the Authorization header (RFC 6750 §2.1), never the query.
            let handler: @Sendable (Request, FapidRequestContext) async -> Response = { request, context in
                // RFC 9449 §7.1: `Authorization: DPoP` with a proof; its refusals are 401 with a DPoP challenge.
                if let presented = Self.dpopAuthorization(request) {
                    let proof = self.dpopRequest(request, path: "/userinfo")
                    do throws(OAuthError) {
                        if request.uri.queryParameters["access_token"] != nil {
                            throw OAuthError(.invalidRequest, "access tokens are not accepted in the query")
                        }
                        let certificate = await self.clientCertificate(request, context: context)
                        let claims = try await userinfo.userinfo(accessToken: presented, scheme: .dpop(proof), certificate: certificate)
                        return self.withDPoPNonce(OAuthResponse.json(claims), services.dpop, proof: proof)
                    } catch {
                        OAuthResponse.log(error, logger: context.logger)
                        return self.withDPoPNonce(OAuthResponse.resourceDPoPError(error), services.dpop, proof: proof)
                    }
                }
                return await OAuthResponse.handle(logger: context.logger) { () async throws(OAuthError) -> Response in
                    if request.uri.queryParameters["access_token"] != nil {
                        throw OAuthError(.invalidRequest, "access tokens are not accepted in the query")
                    }
                    let certificate = await self.clientCertificate(request, context: context)
                    return OAuthResponse.json(try await userinfo.userinfo(accessToken: Self.bearer(request), certificate: certificate))
                }
            }
            router.get("/userinfo", use: handler)
            router.post("/userinfo", use: handler)
        }
        router.post("/token") { request, context in
            let proof = self.dpopRequest(request, path: "/token")
            return self.withDPoPNonce(
                await OAuthResponse.handle(logger: context.logger) { () async throws(OAuthError) -> Response in
                let (parameters, credentials) = try await self.clientForm(request, context)
                let response = try await services.token.token(parameters: parameters, credentials: credentials, proof: proof)
                var members: [String: JSON] = [
                    "access_token": .string(response.accessToken),
                    "token_type": .string(response.tokenType),
                    "expires_in": .int(Int64(response.expiresIn)),
                ]
                if let scope = response.scope { members["scope"] = .string(scope) }
                if let refresh = response.refreshToken { members["refresh_token"] = .string(refresh) }
                if let idToken = response.idToken { members["id_token"] = .string(idToken) }
                // RFC 9396 §7 and Grant Management draft -02 §5.3.
                if let details = response.authorizationDetails, !(details.arrayValue ?? []).isEmpty { members["authorization_details"] = details }
                if let grantID = response.grantID { members["grant_id"] = .string(grantID) }
                return OAuthResponse.json(members)
                }, services.dpop, proof: proof)
        }
        router.post("/introspect") { request, context in
            await OAuthResponse.handle(logger: context.logger) { () async throws(OAuthError) -> Response in
                let certificate = await self.clientCertificate(request, context: context)
                let server = try await services.introspection.authenticate(certificate)
                let parameters = try await FormBody.read(request)
                // RFC 9701 §4: the signed form only when asked for; errors stay JSON (RFC 7662 §2.3).
                if let signer = services.introspectionJWT, IntrospectionAccept.wantsJWT(request.headers[.accept]) {
                    let jwt = try await services.introspection.introspectAsJWT(token: parameters["token"], for: server, signer: signer)
                    return OAuthResponse.jwt(jwt, contentType: IntrospectionResponseJWT.mediaType)
                }
                return OAuthResponse.json(try await services.introspection.introspect(token: parameters["token"]))
            }
        }
        router.post("/revoke") { request, context in
            await OAuthResponse.handle(logger: context.logger) { () async throws(OAuthError) -> Response in
                let (parameters, credentials) = try await self.clientForm(request, context)
                try await services.revocation.revoke(parameters: parameters, credentials: credentials)
                return OAuthResponse.json([:])
            }
        }
    }

    /// The form and the client's credentials of a client-authenticated POST (token, revocation, PAR, CIBA).
    func clientForm(_ request: Request, _ context: FapidRequestContext) async throws(OAuthError) -> ([String: String], ClientCredentials) {
        let parameters = try await FormBody.read(request)
        return (parameters, await credentials(parameters, request, context))
    }

    func credentials(_ parameters: [String: String], _ request: Request, _ context: FapidRequestContext) async -> ClientCredentials {
        ClientCredentials(
            clientID: parameters["client_id"],
            assertionType: parameters["client_assertion_type"],
            assertion: parameters["client_assertion"],
            certificate: await clientCertificate(request, context: context),
            hasAuthorizationHeader: request.headers[.authorization] != nil,
            // The route that answered (respellings such as /token/ normalised as for metrics).
            endpoint: ClientAuthEndpoint(rawValue: context.endpoint(of: request)) ?? .token
        )
    }
}
