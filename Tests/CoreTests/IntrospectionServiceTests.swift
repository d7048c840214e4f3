import AuthorizationServer
import Foundation
import JOSE
import TestSupport
import Testing
import OpenSSLKit

/// RFC 7662 introspection for resource servers authenticated by their certificate.
@Suite("IntrospectionService")
struct IntrospectionServiceTests {
    let core: Core

    init() async throws {
        core = try await Core()
        try await core.register("tpp", grants: ["authorization_code", "client_credentials"])
        // The resource server is known by the subject of the "other" certificate.
        try await core.stores.clients.insertResourceServer(
            ResourceServer(id: "rs-1", name: "Accounts API", subjectDN: core.credentials.other[0].subjectDN, createdAt: core.clock.now()), audit: nil)
    }

    @Test("a registered resource server is authenticated by its certificate; others are invalid_client")
    func authenticates() async throws {
        #expect(try await core.introspection.authenticate(core.certificate(core.credentials.other)).id == "rs-1")
        #expect(await failure { try await core.introspection.authenticate(core.certificate(core.credentials.tpp)) } == "invalid_client")
        #expect(await failure { try await core.introspection.authenticate(core.certificate(core.credentials.selfSigned)) } == "invalid_client")
        #expect(await failure { try await core.introspection.authenticate(nil) } == "invalid_client")
    }

    @Test("an active token is described with its client, subject, scope, expiry and certificate binding (RFC 8705 §3.2)")
    func active() async throws {
        let tokens = try await core.codeTokens("tpp")
        let response = try await core.introspection.introspect(token: tokens.accessToken)
        #expect(response["active"] == .bool(true))
        #expect(response["client_id"]?.stringValue == "tpp")
        #expect(response["sub"]?.stringValue == "alice")
        #expect(response["scope"]?.stringValue == "openid accounts")
        #expect(response["iss"]?.stringValue == Core.issuer)
        #expect(response["cnf"]?["x5t#S256"]?.stringValue == core.credentials.tpp[0].sha256Thumbprint)
        #expect(response["exp"]?.int64Value == Int64(core.clock.now().timeIntervalSince1970) + 300)
    }

    @Test("unknown, expired and revoked tokens are {\"active\": false}; no token is invalid_request")
    func inactive() async throws {
        #expect(try await core.introspection.introspect(token: "unknown") == ["active": false])
        let revoked = try await core.tokenRequest("tpp", ["grant_type": "client_credentials"]).accessToken
        try await core.revocation.revoke(parameters: ["token": revoked], credentials: core.mtls("tpp", endpoint: .revocation))
        #expect(try await core.introspection.introspect(token: revoked) == ["active": false])
        let expiring = try await core.tokenRequest("tpp", ["grant_type": "client_credentials"]).accessToken
        core.clock.advance(301)
        #expect(try await core.introspection.introspect(token: expiring) == ["active": false])
        #expect(await failure { try await core.introspection.introspect(token: nil) } == "invalid_request")
    }
}
