import AuthorizationServer
import Foundation
import JOSE
import TestSupport
import Testing
import OpenSSLKit

/// RFC 6749 §3.2 and §5: the token endpoint's dispatch, before any grant runs.
@Suite("TokenService")
struct TokenServiceTests {
    let core: Core

    init() async throws {
        core = try await Core()
        try await core.register("cc", grants: ["client_credentials"])
        try await core.register("jwt", method: .privateKeyJWT, grants: ["client_credentials"])
    }

    @Test("a registered grant of an authenticated client is dispatched to its handler")
    func dispatches() async throws {
        let response = try await core.tokenRequest("cc", ["grant_type": "client_credentials"])
        #expect(response.tokenType == "Bearer")
        #expect(try await core.accessToken(response.accessToken)?.clientID == "cc")
    }

    @Test("grant_type missing or empty is invalid_request", arguments: [[:], ["grant_type": ""]])
    func grantTypeRequired(parameters: [String: String]) async {
        #expect(await failure { try await core.tokenRequest("cc", parameters) } == "invalid_request")
    }

    @Test("an unknown grant type is unsupported_grant_type; one the client did not register is unauthorized_client")
    func grantTypes() async {
        #expect(await failure { try await core.tokenRequest("cc", ["grant_type": "password"]) } == "unsupported_grant_type")
        #expect(await failure { try await core.tokenRequest("cc", ["grant_type": "refresh_token", "refresh_token": "x"]) } == "unauthorized_client")
    }

    @Test("client authentication runs first: a shared secret in an Authorization header is invalid_client")
    func authenticatesFirst() async {
        var credentials = core.mtls("cc")
        credentials.hasAuthorizationHeader = true
        #expect(await failure { try await core.token.token(parameters: ["grant_type": "client_credentials"], credentials: credentials) } == "invalid_client")
    }

    @Test("a FAPI client authenticated by private_key_jwt without a certificate gets no token: tokens are bound (FAPI 1 Advanced §5.2.2-4)")
    func boundTokensNeedCertificate() async throws {
        let unbound = try core.assertion("jwt")
        #expect(await failure { try await core.token.token(parameters: ["grant_type": "client_credentials"], credentials: unbound) } == "invalid_request")
        let bound = try core.assertion("jwt", certificate: core.credentials.tpp)
        let response = try await core.token.token(parameters: ["grant_type": "client_credentials"], credentials: bound)
        #expect(try await core.accessToken(response.accessToken)?.certificateThumbprint == core.credentials.tpp[0].sha256Thumbprint)
    }
}
