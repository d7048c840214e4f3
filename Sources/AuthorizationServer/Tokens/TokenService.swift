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
        return try await handler.handle(TokenRequest(parameters: parameters, client: client))
    }
}
