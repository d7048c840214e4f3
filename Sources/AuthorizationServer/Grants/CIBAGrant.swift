public import Foundation
import JOSE

/// CIBA Core §10.1 token requests (`urn:openid:params:grant-type:ciba`), answered per §11.
public struct CIBAGrant: GrantHandler {
    public static let grantTypeURN = "urn:openid:params:grant-type:ciba"
    public let grantType = CIBAGrant.grantTypeURN
    let store: any CIBAStore
    let tokens: CIBATokens
    let clock: any WallClock

    public init(store: any CIBAStore, tokens: CIBATokens, clock: any WallClock) {
        self.store = store
        self.tokens = tokens
        self.clock = clock
    }

    public func handle(_ request: TokenRequest) async throws(OAuthError) -> TokenResponse {
        guard let authReqID = request.parameters["auth_req_id"] else { throw OAuthError(.invalidRequest, "auth_req_id is required") }
        let client = request.client.client
        let poll: CIBAPoll
        do { poll = try await store.pollCIBARequest(authReqIDHash: TokenIssuer.hash(authReqID), clientID: client.clientID, now: clock.now()) } catch {
            throw OAuthError(error)
        }
        switch poll {
        case .pending: throw OAuthError(.authorizationPending, "the user has not decided yet")
        case .slowDown: throw OAuthError(.slowDown, "polling too fast; the interval grew by 5 seconds")
        case .denied: throw OAuthError(.accessDenied, "the request was denied")
        case .expired: throw OAuthError(.expiredToken, "the request expired")
        case .invalid: throw OAuthError(.invalidGrant, "auth_req_id is unknown, another client's, or already used")
        case .approved(let approved):
            return try await tokens.issue(
                approved, client: client, certificate: request.client.certificate, binding: request.binding, authReqID: authReqID,
                requestedDetails: request.parameters["authorization_details"])
        }
    }
}

/// Issues what an approved CIBA request yields: a (certificate-bound) access token, a refresh token and an
/// ID Token naming the request (CIBA Core §10.3.1: `urn:openid:params:jwt:claim:auth_req_id`, `at_hash`,
/// `urn:openid:params:jwt:claim:rt_hash`). Shared by the poll/ping token request and push delivery.
public struct CIBATokens: Sendable {
    let codes: any AuthorizationCodeStore
    let tokens: TokenIssuer
    let idTokens: IDTokenIssuer
    let clock: any WallClock
    let refreshLifetime: TimeInterval
    let entropy: any EntropySource
    /// The consents CIBA requests may carry (`CIBARequest.grantID`); nil: scopes only.
    let consents: ConsentService?

    public init(
        codes: any AuthorizationCodeStore, tokens: TokenIssuer, idTokens: IDTokenIssuer, clock: any WallClock,
        refreshLifetime: TimeInterval = RefreshTokenRecord.defaultLifetime, entropy: any EntropySource = SystemEntropy(),
        consents: ConsentService? = nil
    ) {
        self.consents = consents
        self.refreshLifetime = refreshLifetime
        self.codes = codes
        self.tokens = tokens
        self.idTokens = idTokens
        self.clock = clock
        self.entropy = entropy
    }

    /// `binding`: what the access token is bound to (the certificate when not given: push delivery has no proof).
    /// `requestedDetails`: the token request's `authorization_details` (RFC 9396 §6.2), a subset of the granted.
    public func issue(
        _ approved: CIBARequest, client: Client, certificate: ClientCertificate?, binding: TokenBinding? = nil, authReqID: String,
        requestedDetails: String? = nil
    ) async throws(OAuthError) -> TokenResponse {
        let binding = binding ?? TokenBinding(certificateThumbprint: certificate?.thumbprint)
        // The consent the request names must be authorised (the request stays pending until it is); a single payment
        // is consumed by this issuance.
        let granted = try await ConsentService.granted(approved.grantID, consents, client: client, requested: requestedDetails)
        let access = try await tokens.issueAccessToken(
            client: client, subject: approved.username, scope: approved.scope, binding: binding, origin: approved.authReqIDHash,
            grant: CIBAGrant.grantTypeURN, consent: granted.map { ($0.consent.id, $0.details) })
        let now = clock.now()
        var response = TokenResponse(accessToken: access.value, expiresIn: access.expiresIn, scope: approved.scope)
        response.tokenType = access.tokenType
        response.grantID = granted?.consent.id
        response.authorizationDetails = granted?.details
        var refreshValue: String?
        if granted?.singleUse != true {
            refreshValue = try await codes.issueRefreshToken(
                client: client, subject: approved.username, scope: approved.scope, authTime: approved.decidedAt ?? now, nonce: nil,
                certificate: certificate, codeHash: nil, now: now, lifetime: refreshLifetime, entropy: entropy,
                dpopThumbprint: binding.dpopThumbprint, grantID: granted?.consent.id)
        }
        response.refreshToken = refreshValue
        var extra: [String: JSON] = ["urn:openid:params:jwt:claim:auth_req_id": .string(authReqID)]
        if let refreshValue { extra["urn:openid:params:jwt:claim:rt_hash"] = .string(IDTokenIssuer.halfHash(refreshValue)) }
        // FAPI-CIBA: no c_hash or s_hash.
        response.idToken = try await idTokens.issue(
            client: client, subject: approved.username, nonce: nil, authTime: approved.decidedAt ?? now, acr: nil,
            hashed: .init(accessToken: access.value), extra: extra)
        return response
    }
}
