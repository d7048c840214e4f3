import AuthorizationServer
import Foundation
import JOSE
import TestSupport
import Testing

/// OIDC Core §5.3 userinfo, with the certificate binding enforced (RFC 8705 §3).
@Suite("UserinfoService")
struct UserinfoServiceTests {
    let core: Core

    init() async throws {
        core = try await Core()
        try await core.register("tpp", grants: ["authorization_code", "client_credentials"], ["scope": "openid accounts"])
    }

    @Test("a user's openid token, presented with its certificate, names the user")
    func answers() async throws {
        let token = try await core.codeTokens("tpp").accessToken
        #expect(try await core.userinfo.userinfo(accessToken: token, certificate: core.certificate(core.credentials.tpp)) == ["sub": "alice"])
    }

    @Test("another certificate, or none, is invalid_token")
    func binding() async throws {
        let token = try await core.codeTokens("tpp").accessToken
        #expect(await failure { try await core.userinfo.userinfo(accessToken: token, certificate: core.certificate(core.credentials.other)) } == "invalid_token")
        #expect(await failure { try await core.userinfo.userinfo(accessToken: token, certificate: nil) } == "invalid_token")
    }

    @Test("a client_credentials token, a token without openid, an expired, unknown or missing token is invalid_token")
    func refused() async throws {
        let certificate = core.certificate(core.credentials.tpp)
        let clientToken = try await core.tokenRequest("tpp", ["grant_type": "client_credentials", "scope": "openid"]).accessToken
        #expect(await failure { try await core.userinfo.userinfo(accessToken: clientToken, certificate: certificate) } == "invalid_token")
        let code = try await core.storeCode("tpp", scope: "accounts")
        let noOpenID = try await core.tokenRequest(
            "tpp", ["grant_type": "authorization_code", "code": code, "redirect_uri": Core.redirectURI, "code_verifier": Core.verifier]).accessToken
        #expect(await failure { try await core.userinfo.userinfo(accessToken: noOpenID, certificate: certificate) } == "invalid_token")
        let expiring = try await core.codeTokens("tpp").accessToken
        core.clock.advance(301)
        #expect(await failure { try await core.userinfo.userinfo(accessToken: expiring, certificate: core.certificate(core.credentials.tpp)) } == "invalid_token")
        #expect(await failure { try await core.userinfo.userinfo(accessToken: "unknown", certificate: certificate) } == "invalid_token")
        #expect(await failure { try await core.userinfo.userinfo(accessToken: nil, certificate: certificate) } == "invalid_token")
    }
}
