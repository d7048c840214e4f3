import JOSE

/// The checks every authorization request runs against its client, in order (one place, so a reviewer
/// sees them all): redirect URI, response type, response mode, scope, nonce, state, PKCE, and value lengths.
public enum AuthorizationChecks {
    /// How the request arrived: pushed (RFC 9126) or as a request object by value at /authorize.
    public enum Delivery: Sendable {
        case pushed
        case byValue
    }

    /// Response types offered: hybrid (FAPI 1 Advanced) and code (FAPI 2, with PAR).
    public static let responseTypes: Set<String> = ["code id_token", "code"]
    /// JARM response modes (JARM §2.3).
    static let jarmModes: Set<String> = ["jwt", "query.jwt", "fragment.jwt", "form_post.jwt"]

    public static func check(_ request: AuthorizationRequest, client: Client, delivery: Delivery) throws(OAuthError) {
        // FAPI 1 Baseline §5.2.2-8/9/10: registered, required, exact match (no normalisation).
        guard client.redirectURIs.contains(request.redirectURI) else {
            throw OAuthError(.invalidRequest, "redirect_uri is not registered for this client")
        }
        guard responseTypes.contains(request.responseType) else {
            throw OAuthError(.invalidRequest, "response_type must be code id_token or code")
        }
        if let registered = client.metadata["response_types"]?.arrayValue?.compactMap(\.stringValue), !registered.contains(request.responseType) {
            throw OAuthError(.unauthorizedClient, "the client is not registered for response_type \(request.responseType)")
        }
        guard client.grantTypes.contains("authorization_code") else {
            throw OAuthError(.unauthorizedClient, "the client is not registered for the authorization_code grant")
        }
        if let mode = request.responseMode, !["fragment", "query", "form_post", "jwt", "fragment.jwt", "query.jwt", "form_post.jwt"].contains(mode) {
            throw OAuthError(.invalidRequest, "response_mode \(mode) is not supported")
        }
        // FAPI 1 Advanced §5.2.2-2: response_type code only with JARM, so the response is signed.
        if client.isFAPI, request.responseType == "code", !(request.responseMode.map(jarmModes.contains) ?? false) {
            throw OAuthError(.invalidRequest, "response_type code needs response_mode jwt; use code id_token otherwise")
        }
        // OIDC Core §3.3.2.5: the hybrid flow never returns tokens in the query.
        if request.responseType == "code id_token", request.responseMode == "query" || request.responseMode == "query.jwt" {
            throw OAuthError(.invalidRequest, "code id_token cannot use a query response mode")
        }
        for scope in request.scopes where !client.scopes.contains(scope) {
            throw OAuthError(.invalidScope, "scope \(scope) is not allowed for this client")
        }
        let openID = request.scopes.contains("openid")
        if request.responseType == "code id_token" {
            guard openID else { throw OAuthError(.invalidRequest, "code id_token needs the openid scope") }
        }
        if openID {
            // FAPI 1 Advanced §5.2.2.2: nonce is required whenever openid is requested, whatever the response type.
            guard let nonce = request.nonce, !nonce.isEmpty else { throw OAuthError(.invalidRequest, "nonce is required") }
        }
        if !openID, request.state == nil {
            // FAPI 1 Baseline §5.2.2.3: without openid, state protects the client.
            throw OAuthError(.invalidRequest, "state is required when openid is not requested")
        }
        // FAPI 1 Advanced §5.2.2-18: PKCE (S256) with PAR; optional for a signed request object sent by value.
        if delivery == .pushed, request.codeChallenge.isEmpty {
            throw OAuthError(.invalidRequest, "code_challenge is required (PKCE)")
        }
        // Long values are refused, never truncated (conformance: return unchanged or reject).
        if (request.state?.count ?? 0) > 1024 || (request.nonce?.count ?? 0) > 512 {
            throw OAuthError(.invalidRequest, "state or nonce is too long")
        }
    }
}
