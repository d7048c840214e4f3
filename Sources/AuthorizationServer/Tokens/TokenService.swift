/// The token endpoint's judgement (RFC 6749 §3.2, §5): grant type, client authentication, DPoP proof, the
/// sender-constraint rule, dispatch.
public struct TokenService: Sendable {
    let authenticator: ClientAuthenticator
    let handlers: [String: any GrantHandler]
    let dpop: DPoPProofValidator?

    public init(authenticator: ClientAuthenticator, handlers: [any GrantHandler], dpop: DPoPProofValidator? = nil) {
        self.authenticator = authenticator
        self.handlers = Dictionary(uniqueKeysWithValues: handlers.map { ($0.grantType, $0) })
        self.dpop = dpop
    }

    public var grantTypes: [String] { handlers.keys.sorted() }

    /// `proof`: the request's DPoP header values, method and URL (RFC 9449 §5); nil or empty when it sent none.
    public func token(parameters: [String: String], credentials: ClientCredentials, proof: DPoPRequest? = nil) async throws(OAuthError)
        -> TokenResponse
    {
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
        // RFC 9449 §4.3: the proof is checked once, here, for every grant (for clients whose profile offers DPoP).
        let checked: DPoPProof?
        if let proof, proof.hasProof, client.client.usesDPoP {
            guard let dpop else { throw OAuthError(.invalidDPoPProof, "DPoP is not supported here") }
            checked = try await dpop.validate(proof)
        } else {
            checked = nil
        }
        // FAPI 1 Advanced §5.2.2-4 / FAPI 2 SP §5.3.2.1-4/5: only sender-constrained tokens (TokenBinding.decide).
        let binding = try TokenBinding.decide(client: client.client, certificate: client.certificate, proof: checked)
        return try await handler.handle(TokenRequest(parameters: parameters, client: client, proof: checked, binding: binding))
    }
}
