/// The token endpoint's judgement (RFC 6749 §3.2, §5): grant type, client authentication, dispatch.
public struct TokenService: Sendable {
    let authenticator: ClientAuthenticator
    let handlers: [String: any GrantHandler]

    public init(authenticator: ClientAuthenticator, handlers: [any GrantHandler]) {
        self.authenticator = authenticator
        self.handlers = Dictionary(uniqueKeysWithValues: handlers.map { ($0.grantType, $0) })
    }

    public var grantTypes: [String] { handlers.keys.sorted() }

    public func token(parameters: [String: String], credentials: ClientCredentials) async throws(OAuthError) -> TokenResponse {
        guard let grantType = parameters["grant_type"], !grantType.isEmpty else {
            throw OAuthError(.invalidRequest, "grant_type is required")
        }
        let client = try await authenticator.authenticate(credentials)
        guard let handler = handlers[grantType] else {
            throw OAuthError(.unsupportedGrantType, "grant_type \(grantType) is not supported")
        }
        guard client.client.grantTypes.contains(grantType) else {
            throw OAuthError(.unauthorizedClient, "the client is not registered for \(grantType)")
        }
        // FAPI 1 Advanced §5.2.2-4 / FAPI 2 SP §5.3.1.1-4: only sender-constrained tokens, so a FAPI client
        // (or one registered for bound tokens) must connect with its certificate, whatever it authenticated with.
        if client.certificate == nil && client.client.requiresBoundTokens {
            throw OAuthError(.invalidRequest, "a client certificate is required: tokens are bound to it", detail: "no client certificate; tokens are certificate-bound (RFC 8705 §3)")
        }
        return try await handler.handle(TokenRequest(parameters: parameters, client: client))
    }
}
