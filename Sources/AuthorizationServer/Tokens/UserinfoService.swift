public import JOSE

/// OIDC Core §5.3 userinfo for user access tokens, enforcing the certificate binding (RFC 8705 §3).
public struct UserinfoService: Sendable {
    let tokens: any TokenStore
    let clock: any WallClock
    let status: (any CertificateStatusPolicy)?

    public init(tokens: any TokenStore, clock: any WallClock, status: (any CertificateStatusPolicy)? = nil) {
        self.tokens = tokens
        self.clock = clock
        self.status = status
    }

    public func userinfo(accessToken: String?, certificate: ClientCertificate?) async throws(OAuthError) -> [String: JSON] {
        guard let accessToken, !accessToken.isEmpty else { throw OAuthError(.invalidToken, "an access token is required") }
        let record: AccessTokenRecord?
        do { record = try await tokens.accessToken(hash: TokenIssuer.hash(accessToken)) } catch { throw OAuthError(error) }
        guard let record, record.isActive(at: clock.now()), let subject = record.subject,
            record.scope.split(separator: " ").contains("openid")
        else { throw OAuthError(.invalidToken, "the access token is not valid here") }
        if let bound = record.certificateThumbprint {
            guard bound == certificate?.thumbprint else { throw OAuthError(.invalidToken, "the access token is bound to another certificate") }
            // The same answer introspection gives: a token bound to a revoked certificate is no longer valid.
            if status?.isRevoked(thumbprint: bound) == true { throw OAuthError(.invalidToken, "the bound certificate is revoked") }
        }
        return ["sub": .string(subject)]
    }
}
