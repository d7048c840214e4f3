/// RFC 7009 revocation: an authenticated client revokes its own tokens.
public struct RevocationService: Sendable {
    let authenticator: ClientAuthenticator
    let tokens: any TokenStore
    let refreshTokens: (any AuthorizationCodeStore)?
    let clock: any WallClock

    public init(authenticator: ClientAuthenticator, tokens: any TokenStore, refreshTokens: (any AuthorizationCodeStore)? = nil, clock: any WallClock) {
        self.authenticator = authenticator
        self.tokens = tokens
        self.refreshTokens = refreshTokens
        self.clock = clock
    }

    public func revoke(parameters: [String: String], credentials: ClientCredentials) async throws(OAuthError) {
        let client = try await authenticator.authenticate(credentials)
        guard let token = parameters["token"], !token.isEmpty else { throw OAuthError(.invalidRequest, "token is required") }
        if let hint = parameters["token_type_hint"], hint != "access_token" && hint != "refresh_token" {
            throw OAuthError(.unsupportedTokenType, "token_type_hint \(hint) is not supported")
        }
        // RFC 7009 §2.2: an unknown token, or one of another client, answers 200 all the same;
        // only the owner's tokens are ever revoked.
        // Both kinds are tried, whatever the hint says (RFC 7009 §2.1: the hint is only an optimisation);
        // revoking a refresh token also revokes the access tokens issued from it.
        let hash = TokenIssuer.hash(token)
        let now = clock.now()
        func event(_ kind: String) -> AuditEvent {
            AuditEvent(.tokenRevoked, at: now, client: client.client, certificateThumbprint: client.certificate?.thumbprint, reason: "\(kind) revoked by its client")
        }
        do {
            let revoked = try await tokens.revokeAccessToken(hash: hash, clientID: client.client.clientID, at: now, audit: event("access token"))
            if !revoked, let refreshTokens {
                _ = try await refreshTokens.revokeRefreshToken(
                    hash: hash, clientID: client.client.clientID, at: now, audit: event("refresh token and its access tokens"))
            }
        } catch {
            throw OAuthError(error)
        }
    }
}
