/// RFC 7009 revocation: an authenticated client revokes its own tokens.
public struct RevocationService: Sendable {
    let authenticator: ClientAuthenticator
    let tokens: any TokenStore
    let clock: any Clock

    public init(authenticator: ClientAuthenticator, tokens: any TokenStore, clock: any Clock) {
        self.authenticator = authenticator
        self.tokens = tokens
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
        do {
            _ = try await tokens.revokeAccessToken(hash: TokenIssuer.hash(token), clientID: client.client.clientID, at: clock.now())
        } catch {
            throw OAuthError(error)
        }
    }
}
