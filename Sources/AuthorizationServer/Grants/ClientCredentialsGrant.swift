/// RFC 6749 §4.4: a client acting on its own behalf. No refresh token (§4.4.3).
public struct ClientCredentialsGrant: GrantHandler {
    public let grantType = "client_credentials"
    let issuer: TokenIssuer

    public init(issuer: TokenIssuer) {
        self.issuer = issuer
    }

    public func handle(_ request: TokenRequest) async throws(OAuthError) -> TokenResponse {
        let client = request.client.client
        let scope = try Scopes.grant(requested: request.parameters["scope"], allowed: client.scopes)
        let token = try await issuer.issueAccessToken(client: client, subject: nil, scope: scope, binding: request.binding, grant: grantType)
        var response = TokenResponse(accessToken: token.value, expiresIn: token.expiresIn, scope: scope.isEmpty ? nil : scope)
        response.tokenType = token.tokenType
        return response
    }
}

enum Scopes {
    /// RFC 6749 §3.3: the requested scope must lie within the client's registered scope; without a
    /// request, the registered scope is granted. Scope tokens are NQCHAR without space.
    static func grant(requested: String?, allowed: Set<String>) throws(OAuthError) -> String {
        guard let requested else { return allowed.sorted().joined(separator: " ") }
        let tokens = requested.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard !tokens.isEmpty else { throw OAuthError(.invalidScope, "scope is empty") }
        for token in tokens {
            guard token.unicodeScalars.allSatisfy({ $0.value == 0x21 || (0x23...0x5B).contains($0.value) || (0x5D...0x7E).contains($0.value) }) else {
                throw OAuthError(.invalidScope, "scope contains invalid characters")
            }
            guard allowed.contains(token) else { throw OAuthError(.invalidScope, "scope \(token) is not allowed for this client") }
        }
        var seen = Set<String>()
        return tokens.filter { seen.insert($0).inserted }.joined(separator: " ")
    }
}
