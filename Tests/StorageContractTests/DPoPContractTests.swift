import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// The DPoP fields of migration 0018 (RFC 9449 §6 `cnf.jkt` of access tokens, §10 the key a code is bound to, the
/// key a refresh token's grant began with, `dpop_jkt` of a pushed request), round-tripped on memory, SQLite and
/// PostgreSQL; and the proof `jti` memory shared by every instance (§11.1), namespaced apart from assertions.
@Suite("DPoP store contract")
struct DPoPContractTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let jkt = Base64URL.encode(Crypto.sha256("dpop key"))

    func client() throws -> Client {
        try Client(
            clientID: "c1",
            metadata: [
                "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=tpp,O=TPP,C=GB",
                "grant_types": ["client_credentials"], "scope": "accounts",
            ],
            createdAt: t0)
    }

    @Test("access tokens (with the authenticating certificate of a DPoP-bound one, migration 0020), codes and refresh tokens keep their DPoP key; tokens without one read back without", arguments: Backend.available)
    func bindings(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let store = fixture.storage
        try await store.clients.insertClient(try client(), audit: nil)
        for (name, key, certificate) in [("dpop", Optional(jkt), Optional<String>.none), ("both", jkt, "x5t"), ("none", nil, "x5t")] {
            let record = AccessTokenRecord(
                tokenHash: Crypto.sha256(name), clientID: "c1", subject: nil, scope: "accounts", issuedAt: t0, expiresAt: t0.addingTimeInterval(300),
                certificateThumbprint: certificate, format: "opaque", dpopThumbprint: key,
                statusCertificateThumbprint: name == "dpop" ? "authenticated-x5t" : nil)
            try await store.tokens.insertAccessToken(record, audit: nil)
            #expect(try await store.tokens.accessToken(hash: Crypto.sha256(name)) == record, "\(name)")
        }
        let code = AuthorizationCodeRecord(
            codeHash: Crypto.sha256("code"), clientID: "c1", subject: "alice", redirectURI: "https://tpp.example/cb", scope: "openid",
            codeChallenge: "challenge", nonce: nil, authTime: t0, acr: nil, claims: nil, expiresAt: t0.addingTimeInterval(60), dpopThumbprint: jkt)
        try await store.codes.insertCode(code, audit: nil)
        #expect(try await store.codes.redeemCode(hash: Crypto.sha256("code"), now: t0) == .redeemed(code))
        for (name, key) in [("r-dpop", Optional(jkt)), ("r-none", nil)] {
            let refresh = RefreshTokenRecord(
                tokenHash: Crypto.sha256(name), clientID: "c1", subject: "alice", scope: "openid", authTime: t0, nonce: nil, certificateThumbprint: nil,
                codeHash: nil, issuedAt: t0, expiresAt: t0.addingTimeInterval(3600), dpopThumbprint: key)
            try await store.codes.insertRefreshToken(refresh)
            #expect(try await store.codes.refreshToken(hash: Crypto.sha256(name)) == refresh, "\(name)")
        }
    }

    @Test("a pushed request keeps dpop_jkt", arguments: Backend.available)
    func pushedRequest(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let request = try AuthorizationRequest(json: .object([
            "client_id": "c1", "response_type": "code", "redirect_uri": "https://tpp.example/cb", "scope": "openid", "dpop_jkt": .string(jkt),
        ]))
        let uri = Crypto.sha256("urn:dpop")
        try await fixture.storage.pushed.insertPushedRequest(PushedRequest(uriHash: uri, clientID: "c1", request: request, expiresAt: t0.addingTimeInterval(60)))
        #expect(try await fixture.storage.pushed.pushedRequest(uriHash: uri, clientID: "c1", now: t0)?.request.dpopJKT == jkt)
    }

    @Test("a proof jti is consumed once of 50 concurrent attempts, apart from an assertion jti of the same value", arguments: Backend.available)
    func proofReplay(backend: Backend) async throws {
        let fixture = try await Fixture.open(backend)
        defer { withExtendedLifetime(fixture) {} }
        let tokens = fixture.storage.tokens
        let consumed = await concurrently(50) { _ in
            try await tokens.consume(jti: "j1", clientID: "dpop:" + self.jkt, expiresAt: self.t0.addingTimeInterval(61), now: self.t0)
        }
        #expect(consumed == 1)
        #expect(try await tokens.consume(jti: "j1", clientID: "c1", expiresAt: t0.addingTimeInterval(61), now: t0))
    }
}
