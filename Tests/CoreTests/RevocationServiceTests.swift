import AuthorizationServer
import Foundation
import JOSE
import TestSupport
import Testing

/// RFC 7009: a client revokes its own tokens, and only its own.
@Suite("RevocationService")
struct RevocationServiceTests {
    let core: Core

    init() async throws {
        core = try await Core()
        try await core.register("tpp", grants: ["authorization_code", "refresh_token", "client_credentials"])
        try await core.register("rival", grants: ["client_credentials"])
    }

    func revoke(_ parameters: [String: String], client: String = "tpp") async throws {
        try await core.revocation.revoke(parameters: parameters, credentials: core.mtls(client, endpoint: .revocation))
    }

    @Test("the owner revokes an access token, with an audit event")
    func revokesAccessToken() async throws {
        let token = try await core.tokenRequest("tpp", ["grant_type": "client_credentials"]).accessToken
        try await revoke(["token": token, "token_type_hint": "access_token"])
        #expect(try await core.accessToken(token)?.revokedAt == core.clock.now())
        #expect(try await core.auditTypes().last == "token.revoked")
    }

    @Test("revoking a refresh token revokes the access tokens issued from it, whatever the hint says (RFC 7009 §2.1)")
    func revokesRefreshToken() async throws {
        let tokens = try await core.codeTokens("tpp")
        let refresh = try #require(tokens.refreshToken)
        let refreshed = try await core.tokenRequest("tpp", ["grant_type": "refresh_token", "refresh_token": refresh]).accessToken
        try await revoke(["token": refresh, "token_type_hint": "access_token"])
        #expect(try await core.stores.codes.refreshToken(hash: TokenIssuer.hash(refresh))?.revokedAt != nil)
        #expect(try await core.accessToken(refreshed)?.revokedAt != nil)
    }

    @Test("another client's token, or an unknown one, answers success and stays active (RFC 7009 §2.2)")
    func othersTokens() async throws {
        let token = try await core.tokenRequest("tpp", ["grant_type": "client_credentials"]).accessToken
        try await revoke(["token": token], client: "rival")
        try await revoke(["token": "unknown"])
        #expect(try await core.accessToken(token)?.revokedAt == nil)
    }

    @Test("no token is invalid_request; an unknown hint is unsupported_token_type; the client must authenticate")
    func refused() async throws {
        #expect(await failure { try await revoke([:]) } == "invalid_request")
        #expect(await failure { try await revoke(["token": "x", "token_type_hint": "id_token"]) } == "unsupported_token_type")
        #expect(await failure {
            try await core.revocation.revoke(parameters: ["token": "x"], credentials: core.mtls("tpp", core.credentials.other, endpoint: .revocation))
        } == "invalid_client")
    }
}
