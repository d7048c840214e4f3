import Foundation

/// RFC 6749 §6: a refresh token of this client (and, when bound, this certificate) gives a new access token.
/// Not rotated: the FAPI 1 conformance suite accepts either, and FAPI 2 SP §5.3.1.1-10 advises against rotation.
public struct RefreshTokenGrant: GrantHandler {
    public let grantType = "refresh_token"
    let codes: any AuthorizationCodeStore
    let tokens: TokenIssuer
    let idTokens: IDTokenIssuer
    let clock: any WallClock
    /// The consents refresh tokens may be issued under; nil: scopes only.
    let consents: ConsentService?

    public init(
        codes: any AuthorizationCodeStore, tokens: TokenIssuer, idTokens: IDTokenIssuer, clock: any WallClock, consents: ConsentService? = nil
    ) {
        self.consents = consents
        self.codes = codes
        self.tokens = tokens
        self.idTokens = idTokens
        self.clock = clock
    }

    public func handle(_ request: TokenRequest) async throws(OAuthError) -> TokenResponse {
        guard let value = request.parameters["refresh_token"] else { throw OAuthError(.invalidRequest, "refresh_token is required") }
        let client = request.client.client
        let hash = TokenIssuer.hash(value)
        let found: RefreshTokenRecord?
        do { found = try await codes.refreshToken(hash: hash) } catch { throw OAuthError(error) }
        guard let record = found, record.clientID == client.clientID, record.revokedAt == nil, record.expiresAt > clock.now() else {
            throw OAuthError(.invalidGrant, "the refresh token is unknown, revoked, expired or not this client's")
        }
        if let bound = record.certificateThumbprint, bound != request.client.certificate?.thumbprint {
            throw OAuthError(.invalidGrant, "the refresh token is bound to another certificate")
        }
        // RFC 9449 §5: bound to the client, not the key; a grant that began with DPoP goes on with DPoP (any key).
        if record.dpopThumbprint != nil && request.binding.dpopThumbprint == nil {
            throw OAuthError(.invalidDPoPProof, "a DPoP proof is required to use this refresh token")
        }
        // A refresh under a consent only while it is authorised (a revoked, expired or consumed one: invalid_grant).
        let granted = try await ConsentService.granted(
            record.grantID, consents, client: client, requested: request.parameters["authorization_details"])
        let scope = try Self.scope(of: record, consent: granted?.consent, requested: request.parameters["scope"])
        let access = try await tokens.issueAccessToken(
            client: client, subject: record.subject, scope: scope, binding: request.binding, origin: hash, grant: grantType,
            consent: granted.map { ($0.consent.id, $0.details) })
        var response = TokenResponse(accessToken: access.value, expiresIn: access.expiresIn, scope: scope)
        response.tokenType = access.tokenType
        response.grantID = granted?.consent.id
        response.authorizationDetails = granted?.details
        if scope.split(separator: " ").contains("openid") {
            response.idToken = try await idTokens.issue(
                client: client, subject: record.subject, nonce: nil, authTime: record.authTime, acr: nil, hashed: .init(accessToken: access.value))
        }
        return response
    }

    /// The scope of a refreshed access token: the refresh token's, limited to what its consent holds now (a Grant
    /// Management `replace` may have dropped scopes since the refresh token was issued: draft -02 §4.1, the grant is
    /// what the tokens stand for), then narrowed to `requested` (RFC 6749 §6: never beyond the original grant). A
    /// consent that names no scopes (an intent of details only, `POST /consents`) leaves the token's scope as is.
    static func scope(of record: RefreshTokenRecord, consent: Consent?, requested: String?) throws(OAuthError) -> String {
        var scopes = record.scope.split(separator: " ").map(String.init)
        if let consent, !consent.scope.isEmpty {
            let current = Set(consent.scope.split(separator: " ").map(String.init))
            scopes = scopes.filter(current.contains)
        }
        guard let requested else { return scopes.joined(separator: " ") }
        let granted = Set(scopes)
        let narrowed = requested.split(separator: " ").map(String.init)
        guard narrowed.allSatisfy(granted.contains) else { throw OAuthError(.invalidScope, "scope beyond the original grant") }
        return narrowed.joined(separator: " ")
    }
}
