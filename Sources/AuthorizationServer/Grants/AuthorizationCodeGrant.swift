public import Foundation
import JOSE

/// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6): single-use code, bound to client, redirect URI and verifier.
public struct AuthorizationCodeGrant: GrantHandler {
    public let grantType = "authorization_code"
    let codes: any AuthorizationCodeStore
    let tokens: TokenIssuer
    let idTokens: IDTokenIssuer
    let clock: any Clock
    let refreshLifetime: TimeInterval
    let entropy: any EntropySource

    public init(
        codes: any AuthorizationCodeStore, tokens: TokenIssuer, idTokens: IDTokenIssuer, clock: any Clock, refreshLifetime: TimeInterval = 90 * 86_400,
        entropy: any EntropySource = SystemEntropy()
    ) {
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

        let access = try await tokens.issueAccessToken(
            client: client, subject: record.subject, scope: record.scope, certificate: request.client.certificate, origin: hash,
            grant: grantType)
        let refreshValue = try await codes.issueRefreshToken(
            client: client, subject: record.subject, scope: record.scope, authTime: record.authTime, nonce: record.nonce,
            certificate: request.client.certificate, codeHash: hash, now: clock.now(), lifetime: refreshLifetime, entropy: entropy)
        var response = TokenResponse(accessToken: access.value, expiresIn: access.expiresIn, scope: record.scope)
        response.refreshToken = refreshValue
        if record.scope.split(separator: " ").contains("openid") {
            response.idToken = try idTokens.issue(
                client: client, subject: record.subject, nonce: record.nonce, authTime: record.authTime, acr: record.acr,
                hashed: .init(accessToken: access.value), extra: IntentClaims.from(record.claims))
        }
        return response
    }
}

extension AuthorizationCodeGrant {
    /// RFC 7636 §4.6: the verifier must hash to the code's challenge; a missing one fails the same way
    /// (`invalid_grant`). A code requested without PKCE (by value) takes no verifier: one sent anyway is a
    /// PKCE downgrade attempt (RFC 9700 §2.1.1) and is refused.
    public static func checkVerifier(_ verifier: String?, challenge: String) throws(OAuthError) {
        guard !challenge.isEmpty else {
            if verifier != nil { throw OAuthError(.invalidGrant, "code_verifier sent for a code requested without code_challenge") }
            return
        }
        let verifier = verifier ?? ""
        // RFC 7636 §4.1: 43-128 unreserved characters; §4.6: BASE64URL(SHA256(verifier)) == challenge.
        let unreserved = verifier.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSetASCII.unreserved.contains($0.value)) }
        guard (43...128).contains(verifier.count), unreserved, Crypto.constantTimeEqual(Base64URL.encode(Crypto.sha256(verifier)), challenge) else {
            throw OAuthError(.invalidGrant, "code_verifier does not match the code_challenge")
        }
    }
}

/// RFC 6749 §6: a refresh token of this client (and, when bound, this certificate) gives a new access token.
/// Not rotated: the FAPI 1 conformance suite accepts either, and FAPI 2 SP §5.3.1.1-10 advises against rotation.
public struct RefreshTokenGrant: GrantHandler {
    public let grantType = "refresh_token"
    let codes: any AuthorizationCodeStore
    let tokens: TokenIssuer
    let idTokens: IDTokenIssuer
    let clock: any Clock

    public init(codes: any AuthorizationCodeStore, tokens: TokenIssuer, idTokens: IDTokenIssuer, clock: any Clock) {
        self.codes = codes
        self.tokens = tokens
        self.idTokens = idTokens
        self.clock = clock
    }

    public func handle(_ request: TokenRequest) async throws(OAuthError) -> TokenResponse {
        guard let value = request.parameters["refresh_token"] else { throw OAuthError(.invalidRequest, "refresh_token is required") }
        let client = request.client.client
        let hash = TokenIssuer.hash(value)
        let found: RefreshTokenRecord?
        do { found = try await codes.refreshToken(hash: hash) } catch { throw OAuthError(error) }
        guard let record = found, record.clientID == client.clientID, record.revokedAt == nil, record.expiresAt > clock.now() else {
            throw OAuthError(.invalidGrant, "the refresh token is unknown, revoked, expired or not this client's")
        }
        if let bound = record.certificateThumbprint, bound != request.client.certificate?.thumbprint {
            throw OAuthError(.invalidGrant, "the refresh token is bound to another certificate")
        }
        var scope = record.scope
        if let requested = request.parameters["scope"] {
            let granted = Set(record.scope.split(separator: " ").map(String.init))
            let narrowed = requested.split(separator: " ").map(String.init)
            guard narrowed.allSatisfy(granted.contains) else { throw OAuthError(.invalidScope, "scope beyond the original grant") }
            scope = narrowed.joined(separator: " ")
        }
        let access = try await tokens.issueAccessToken(
            client: client, subject: record.subject, scope: scope, certificate: request.client.certificate, origin: hash, grant: grantType)
        var response = TokenResponse(accessToken: access.value, expiresIn: access.expiresIn, scope: scope)
        if scope.split(separator: " ").contains("openid") {
            response.idToken = try idTokens.issue(
                client: client, subject: record.subject, nonce: nil, authTime: record.authTime, acr: nil, hashed: .init(accessToken: access.value))
        }
        return response
    }
}

enum CharacterSetASCII {
    /// RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~".
    static let unreserved: Set<UInt32> = Set(
        Array(0x41...0x5A) + Array(0x61...0x7A) + Array(0x30...0x39) + [0x2D, 0x2E, 0x5F, 0x7E])
}

enum IntentClaims {
    /// The Open Banking intent id requested in `claims`, passed through to the ID Token.
    static func from(_ claims: JSON?) -> [String: JSON] {
        guard let value = claims?["id_token"]?["openbanking_intent_id"]?["value"] else { return [:] }
        return ["openbanking_intent_id": value]
    }
}
