public import Foundation
import OpenSSLKit

/// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6): single-use code, bound to client, redirect URI and verifier.
public struct AuthorizationCodeGrant: GrantHandler {
    public let grantType = "authorization_code"
    let codes: any AuthorizationCodeStore
    let tokens: TokenIssuer
    let idTokens: IDTokenIssuer
    let clock: any WallClock
    let refreshLifetime: TimeInterval
    let entropy: any EntropySource
    /// The consents codes may be issued under (`grant_id`); nil: scopes only.
    let consents: ConsentService?

    public init(
        codes: any AuthorizationCodeStore, tokens: TokenIssuer, idTokens: IDTokenIssuer, clock: any WallClock,
        refreshLifetime: TimeInterval = RefreshTokenRecord.defaultLifetime, entropy: any EntropySource = SystemEntropy(),
        consents: ConsentService? = nil
    ) {
        self.consents = consents
        self.codes = codes
        self.tokens = tokens
        self.idTokens = idTokens
        self.clock = clock
        self.refreshLifetime = refreshLifetime
        self.entropy = entropy
    }

    public func handle(_ request: TokenRequest) async throws(OAuthError) -> TokenResponse {
        guard let code = request.parameters["code"] else { throw OAuthError(.invalidRequest, "code is required") }
        guard let redirectURI = request.parameters["redirect_uri"] else { throw OAuthError(.invalidRequest, "redirect_uri is required") }
        let client = request.client.client
        let hash = Crypto.sha256(code)
        let redemption: CodeRedemption
        do { redemption = try await codes.redeemCode(hash: hash, now: clock.now()) } catch { throw OAuthError(error) }
        let record: AuthorizationCodeRecord
        switch redemption {
        case .redeemed(let redeemed): record = redeemed
        case .reused: throw OAuthError(.invalidGrant, "the code was already used; tokens issued from it are revoked")
        case .unknownOrExpired: throw OAuthError(.invalidGrant, "the code is unknown or expired")
        }
        guard record.clientID == client.clientID else { throw OAuthError(.invalidGrant, "the code was issued to another client") }
        guard record.redirectURI == redirectURI else { throw OAuthError(.invalidGrant, "redirect_uri does not match the authorization request") }
        try Self.checkVerifier(request.parameters["code_verifier"], challenge: record.codeChallenge)
        try Self.checkDPoPBinding(record.dpopThumbprint, proof: request.proof)
        let granted = try await ConsentService.granted(
            record.grantID, consents, client: client, requested: request.parameters["authorization_details"])

        let access = try await tokens.issueAccessToken(
            client: client, subject: record.subject, scope: record.scope, binding: request.binding, origin: hash, grant: grantType,
            consent: granted.map { ($0.consent.id, $0.details) })
        var response = TokenResponse(accessToken: access.value, expiresIn: access.expiresIn, scope: record.scope)
        response.tokenType = access.tokenType
        response.grantID = granted?.consent.id
        response.authorizationDetails = granted?.details
        // A single payment is used once: no refresh token goes with it.
        if granted?.singleUse != true {
            response.refreshToken = try await codes.issueRefreshToken(
                client: client, subject: record.subject, scope: record.scope, authTime: record.authTime, nonce: record.nonce,
                certificate: request.client.certificate, codeHash: hash, now: clock.now(), lifetime: refreshLifetime, entropy: entropy,
                dpopThumbprint: request.binding.dpopThumbprint, grantID: granted?.consent.id)
        }
        if record.scope.split(separator: " ").contains("openid") {
            response.idToken = try await idTokens.issue(
                client: client, subject: record.subject, nonce: record.nonce, authTime: record.authTime, acr: record.acr,
                hashed: .init(accessToken: access.value), extra: IntentClaims.from(record.claims, consentID: record.grantID))
        }
        return response
    }

    /// RFC 9449 §10: a code bound to a DPoP key is redeemed only with a proof of that key.
    static func checkDPoPBinding(_ bound: String?, proof: DPoPProof?) throws(OAuthError) {
        guard let bound else { return }
        guard let proof else { throw OAuthError(.invalidDPoPProof, "a DPoP proof is required: the code is bound to a DPoP key") }
        guard Crypto.constantTimeEqual(bound, proof.thumbprint) else {
            throw OAuthError(.invalidGrant, "the code is bound to another DPoP key", detail: "dpop_jkt mismatch (RFC 9449 §10)")
        }
    }
}
