/// A token request after client authentication: the form parameters and who sent them.
public struct TokenRequest: Sendable {
    public let parameters: [String: String]
    public let client: AuthenticatedClient

    public init(parameters: [String: String], client: AuthenticatedClient) {
        self.parameters = parameters
        self.client = client
    }
}

/// What the token endpoint returns on success (RFC 6749 §5.1).
public struct TokenResponse: Sendable {
    public var accessToken: String
    public var tokenType = "Bearer"
    public var expiresIn: Int
    public var scope: String?
    public var refreshToken: String?
    public var idToken: String?

    public init(accessToken: String, expiresIn: Int, scope: String?) {
        self.accessToken = accessToken
        self.expiresIn = expiresIn
        self.scope = scope
    }
}

/// One grant type. Adding a grant is one file and one line in `TokenService`.
public protocol GrantHandler: Sendable {
    var grantType: String { get }
    func handle(_ request: TokenRequest) async throws(OAuthError) -> TokenResponse
}
