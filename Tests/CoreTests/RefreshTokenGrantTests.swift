import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// RFC 6749 §6: a refresh token of this client and, when bound, this certificate (RFC 8705 §3).
@Suite("RefreshTokenGrant")
struct RefreshTokenGrantTests {
    let core: Core

    init() async throws {
        core = try await Core()
        try await core.register("tpp", grants: ["authorization_code", "refresh_token"])
        try await core.register("rival", grants: ["authorization_code", "refresh_token"])
    }

    func refresh(_ token: String, client: String = "tpp", scope: String? = nil, _ chain: [X509Certificate]? = nil) async throws -> TokenResponse {
        var parameters = ["grant_type": "refresh_token", "refresh_token": token]
        parameters["scope"] = scope
        return try await core.tokenRequest(client, parameters, chain)
    }

    @Test("the refresh token gives a new access token of the same grant, not rotated, with a new ID Token")
    func refreshes() async throws {
        let first = try await core.codeTokens("tpp")
        let token = try #require(first.refreshToken)
        let second = try await refresh(token)
        #expect(second.accessToken != first.accessToken)
        #expect(second.refreshToken == nil)
        #expect(second.scope == "openid accounts")
        #expect(try core.verifiedClaims(try #require(second.idToken)).subject == "alice")
        let record = try #require(try await core.accessToken(second.accessToken))
        #expect(record.certificateThumbprint == core.credentials.tpp[0].sha256Thumbprint)
        // Still usable: FAPI 2 SP §5.3.1.1-10 advises against rotation.
        _ = try await refresh(token)
        #expect(try await core.auditTypes().filter { $0 == "token.refreshed" }.count == 2)
    }

    @Test("a refresh token bound to one certificate is refused with another, or with none (RFC 8705 §3)")
    func certificateBinding() async throws {
        // An assertion authenticates the client; the certificate of the connection only binds the tokens.
        try await core.register("jwt", method: .privateKeyJWT, grants: ["authorization_code", "refresh_token"], ["fapi": false])
        let code = try await core.storeCode("jwt")
        let first = try await core.token.token(
            parameters: ["grant_type": "authorization_code", "code": code, "redirect_uri": Core.redirectURI, "code_verifier": Core.verifier],
            credentials: core.assertion("jwt", certificate: core.credentials.tpp))
        let token = try #require(first.refreshToken)
        let stored = try await core.stores.codes.refreshToken(hash: TokenIssuer.hash(token))
        #expect(stored?.certificateThumbprint == core.credentials.tpp[0].sha256Thumbprint)
        func refresh(_ chain: [X509Certificate]?) async throws -> TokenResponse {
            try await core.token.token(parameters: ["grant_type": "refresh_token", "refresh_token": token], credentials: core.assertion("jwt", certificate: chain))
        }
        #expect(await failure { try await refresh(core.credentials.other) } == "invalid_grant")
        #expect(await failure { try await refresh(nil) } == "invalid_grant")
        _ = try await refresh(core.credentials.tpp)
    }

    @Test("a scope within the grant narrows the token; one beyond it is invalid_scope")
    func scopes() async throws {
        let token = try #require(try await core.codeTokens("tpp").refreshToken)
        let narrowed = try await refresh(token, scope: "accounts")
        #expect(narrowed.scope == "accounts")
        #expect(narrowed.idToken == nil)
        #expect(await failure { try await refresh(token, scope: "accounts payments") } == "invalid_scope")
    }

    @Test("another client's, an unknown, a revoked or an expired refresh token is invalid_grant")
    func refused() async throws {
        let token = try #require(try await core.codeTokens("tpp").refreshToken)
        #expect(await failure { try await refresh(token, client: "rival") } == "invalid_grant")
        #expect(await failure { try await refresh("unknown") } == "invalid_grant")
        #expect(await failure { try await core.tokenRequest("tpp", ["grant_type": "refresh_token"]) } == "invalid_request")
        try await core.revocation.revoke(parameters: ["token": token], credentials: core.mtls("tpp", endpoint: .revocation))
        #expect(await failure { try await refresh(token) } == "invalid_grant")
        let late = try #require(try await core.codeTokens("tpp").refreshToken)
        core.clock.advance(91 * 86_400)
        #expect(await failure { try await refresh(late) } == "invalid_grant")
    }
}
