import AuthorizationServer
import Foundation
import JOSE
import TestSupport
import Testing
import OpenSSLKit

/// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6): single use, bound to client, redirect URI and verifier.
@Suite("AuthorizationCodeGrant")
struct AuthorizationCodeGrantTests {
    let core: Core

    init() async throws {
        core = try await Core()
        try await core.register("tpp", grants: ["authorization_code", "refresh_token"])
        try await core.register("rival", grants: ["authorization_code"])
    }

    func redeem(_ code: String, client: String = "tpp", verifier: String? = Core.verifier, redirectURI: String = Core.redirectURI) async throws
        -> TokenResponse
    {
        var parameters = ["grant_type": "authorization_code", "code": code, "redirect_uri": redirectURI]
        parameters["code_verifier"] = verifier
        return try await core.tokenRequest(client, parameters)
    }

    @Test("a code with its verifier gives a bound access token, a refresh token and an ID Token with at_hash and the nonce")
    func redeems() async throws {
        let code = try await core.storeCode("tpp")
        let response = try await redeem(code)
        #expect(response.scope == "openid accounts")
        let record = try #require(try await core.accessToken(response.accessToken))
        #expect(record.subject == "alice")
        #expect(record.certificateThumbprint == core.credentials.tpp[0].sha256Thumbprint)
        let refresh = try #require(response.refreshToken)
        #expect(refresh.count == 43)
        let claims = try core.verifiedClaims(try #require(response.idToken))
        #expect(claims.subject == "alice")
        #expect(claims["aud"]?.stringValue == "tpp")
        #expect(claims["nonce"]?.stringValue == "n-1")
        #expect(claims["at_hash"]?.stringValue == IDTokenIssuer.halfHash(response.accessToken))
    }

    @Test("no ID Token without the openid scope")
    func noOpenID() async throws {
        let response = try await redeem(try await core.storeCode("tpp", scope: "accounts"))
        #expect(response.idToken == nil)
    }

    @Test("a verifier that does not hash to the challenge, a missing one, or a short one is invalid_grant (RFC 7636 §4.6)",
        arguments: [String(repeating: "w", count: 43), nil, "short"])
    func pkceMismatch(verifier: String?) async throws {
        let code = try await core.storeCode("tpp")
        #expect(await failure { try await redeem(code, verifier: verifier) } == "invalid_grant")
    }

    @Test("a verifier sent for a code requested without PKCE is refused (downgrade, RFC 9700 §2.1.1)")
    func pkceDowngrade() async throws {
        let code = try await core.storeCode("tpp", challenge: "")
        #expect(await failure { try await redeem(code) } == "invalid_grant")
        let other = try await core.storeCode("tpp", challenge: "")
        _ = try await redeem(other, verifier: nil)
    }

    @Test("a second redemption is invalid_grant and revokes what the first issued (RFC 6749 §4.1.2)")
    func reuseRevokes() async throws {
        let code = try await core.storeCode("tpp")
        let first = try await redeem(code)
        #expect(await failure { try await redeem(code) } == "invalid_grant")
        #expect(try await core.accessToken(first.accessToken)?.revokedAt != nil)
        let refresh = try await core.stores.codes.refreshToken(hash: TokenIssuer.hash(try #require(first.refreshToken)))
        #expect(refresh?.revokedAt != nil)
        #expect(await failure { try await core.tokenRequest("tpp", ["grant_type": "refresh_token", "refresh_token": first.refreshToken!]) } == "invalid_grant")
        #expect(try await core.auditTypes().contains("code.reuse_detected"))
    }

    @Test("a redirect_uri other than the request's is invalid_grant; a missing one is invalid_request")
    func redirectMismatch() async throws {
        let code = try await core.storeCode("tpp")
        #expect(await failure { try await redeem(code, redirectURI: "https://tpp.example/other") } == "invalid_grant")
        #expect(await failure { try await core.tokenRequest("tpp", ["grant_type": "authorization_code", "code": "x"]) } == "invalid_request")
    }

    @Test("another client's code, an unknown code and an expired code are invalid_grant")
    func wrongCodes() async throws {
        let code = try await core.storeCode("tpp")
        #expect(await failure { try await redeem(code, client: "rival") } == "invalid_grant")
        #expect(await failure { try await redeem("no-such-code") } == "invalid_grant")
        let late = try await core.storeCode("tpp")
        core.clock.advance(61)
        #expect(await failure { try await redeem(late) } == "invalid_grant")
    }
}
