import AuthorizationServer
import Foundation
import JOSE
import TestSupport
import Testing
import OpenSSLKit

/// RFC 6749 §4.4 client credentials.
@Suite("ClientCredentialsGrant")
struct ClientCredentialsGrantTests {
    let core: Core

    init() async throws {
        core = try await Core()
        try await core.register("cc", grants: ["client_credentials"], ["scope": "accounts payments"])
    }

    @Test("without a scope the registered scope is granted; the token is opaque, bound to the certificate, and has no refresh token")
    func registeredScope() async throws {
        let response = try await core.tokenRequest("cc", ["grant_type": "client_credentials"])
        #expect(response.scope == "accounts payments")
        #expect(response.refreshToken == nil)
        #expect(response.expiresIn == 300)
        // The first value the issuer draws is the token itself.
        #expect(response.accessToken == SeededEntropy(seed: Core.seed).token())
        let record = try #require(try await core.accessToken(response.accessToken))
        #expect(record.subject == nil)
        #expect(record.format == "opaque")
        #expect(record.certificateThumbprint == core.credentials.tpp[0].sha256Thumbprint)
        #expect(record.expiresAt == core.clock.now().addingTimeInterval(300))
    }

    @Test("a requested scope within the registration is granted as asked, without duplicates")
    func narrowed() async throws {
        let response = try await core.tokenRequest("cc", ["grant_type": "client_credentials", "scope": "payments payments"])
        #expect(response.scope == "payments")
    }

    @Test("a scope beyond the registration, an empty scope or invalid characters are invalid_scope", arguments: ["openid", "accounts admin", " ", "acc\"ounts"])
    func refusedScopes(scope: String) async {
        #expect(await failure { try await core.tokenRequest("cc", ["grant_type": "client_credentials", "scope": scope]) } == "invalid_scope")
    }

    @Test("a client registered for JWT access tokens gets an RFC 9068 at+jwt, signed, bound by cnf, stored by hash")
    func jwtAccessToken() async throws {
        try await core.register("jwt-at", grants: ["client_credentials"], ["scope": "accounts", "access_token_format": "jwt", "access_token_signing_alg": "ES256"])
        let response = try await core.tokenRequest("jwt-at", ["grant_type": "client_credentials"])
        let jws = try CompactJWS(response.accessToken)
        #expect(jws.header["typ"]?.stringValue == "at+jwt")
        let claims = try core.verifiedClaims(response.accessToken)
        let now = Int64(core.clock.now().timeIntervalSince1970)
        #expect(claims.issuer == Core.issuer)
        #expect(claims.subject == "jwt-at")
        #expect(claims["client_id"]?.stringValue == "jwt-at")
        #expect(claims["scope"]?.stringValue == "accounts")
        #expect(claims["exp"]?.int64Value == now + 300)
        #expect(claims["cnf"]?["x5t#S256"]?.stringValue == core.credentials.tpp[0].sha256Thumbprint)
        // RFC 9068 §2.2: a unique jti, drawn from the entropy source like every other value.
        #expect(claims.jwtID?.count == 43)
        #expect(try await core.accessToken(response.accessToken)?.format == "jwt")
    }
}
