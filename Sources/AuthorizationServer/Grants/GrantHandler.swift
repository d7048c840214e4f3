public import JOSE

/// A token request after client authentication: the form parameters, who sent them, the checked DPoP proof
/// (RFC 9449 §5) and what the tokens are bound to (`TokenBinding.decide`).
public struct TokenRequest: Sendable {
    public let parameters: [String: String]
    public let client: AuthenticatedClient
    public let proof: DPoPProof?
    public let binding: TokenBinding

    /// `binding`: `TokenBinding.decide`'s answer for this client, certificate and proof.
    public init(parameters: [String: String], client: AuthenticatedClient, proof: DPoPProof?, binding: TokenBinding) {
        self.parameters = parameters
        self.client = client
        self.proof = proof
        self.binding = binding
    }
}

/// What the token endpoint returns on success (RFC 6749 §5.1).
public struct TokenResponse: Sendable {
    public var accessToken: String
    /// `Bearer`, or `DPoP` for a DPoP-bound token (RFC 9449 §5).
    public var tokenType = "Bearer"
    public var expiresIn: Int
    public var scope: String?
    public var refreshToken: String?
    public var idToken: String?
    /// RFC 9396 §7: the details the access token was granted; Grant Management: the consent (`grant_id`).
    public var authorizationDetails: JSON?
    public var grantID: String?

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
