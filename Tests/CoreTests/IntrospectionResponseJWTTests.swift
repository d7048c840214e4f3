import AuthorizationServer
import Foundation
import JOSE
import MemoryStorage
import TestSupport
import Testing

/// RFC 9701 JWT introspection responses: the RFC 7662 object under `token_introspection`, signed for the
/// resource server that asked, with its `introspection_signed_response_alg`.
@Suite("IntrospectionResponseJWT")
struct IntrospectionResponseJWTTests {
    let core: Core
    let signer: IntrospectionResponseJWT
    let ps256 = ResourceServer(id: "rs-ps256", name: "Accounts API", subjectDN: "CN=accounts,C=GB", createdAt: Date(timeIntervalSince1970: 0))
    let es256 = ResourceServer(
        id: "rs-es256", name: "Payments API", subjectDN: "CN=payments,C=GB", createdAt: Date(timeIntervalSince1970: 0), introspectionSignedResponseAlg: .ES256)

    init() async throws {
        core = try await Core()
        try await core.register("tpp", grants: ["authorization_code", "client_credentials"])
        signer = IntrospectionResponseJWT(keyRing: core.credentials.keyRing, issuer: Core.issuer, clock: core.clock)
    }

    /// The verified header and claims of a response, checked against the server's published keys.
    func verified(_ token: String, algorithm: JWSAlgorithm) throws -> (jws: CompactJWS, claims: JWTClaims) {
        let jws = try CompactJWS(token)
        let key = try jws.verify(with: JWKSet(keys: core.credentials.keyRing.snapshot.published), allowed: [algorithm])
        #expect(key.kid == jws.kid)
        return (jws, try jws.claims())
    }

    @Test("an active token: typ token-introspection+jwt, the server's PS256 key, iss, aud = the resource server's id, iat, and the JSON response unchanged")
    func active() async throws {
        let tokens = try await core.codeTokens("tpp")
        core.clock.advance(7)
        let token = try await core.introspection.introspectAsJWT(token: tokens.accessToken, for: ps256, signer: signer)
        let (jws, claims) = try verified(token, algorithm: .PS256)
        #expect(jws.type == "token-introspection+jwt")
        #expect(jws.algorithm == .PS256 && jws.kid == "server-ps256")
        #expect(Set(claims.members.keys) == ["iss", "aud", "iat", "token_introspection"], "no top-level sub or exp (RFC 9701 §8.1)")
        #expect(claims.issuer == Core.issuer)
        #expect(claims["aud"]?.stringValue == "rs-ps256")
        #expect(claims["iat"]?.int64Value == Int64(core.clock.now().timeIntervalSince1970))
        let plain = try await core.introspection.introspect(token: tokens.accessToken)
        #expect(claims["token_introspection"] == .object(plain))
        #expect(plain["active"] == .bool(true) && plain["client_id"]?.stringValue == "tpp" && plain["cnf"] != nil)
    }

    @Test("a resource server registered with ES256 gets an ES256 response from the ES256 key")
    func es256Server() async throws {
        let access = try await core.tokenRequest("tpp", ["grant_type": "client_credentials"]).accessToken
        let (jws, claims) = try verified(try await core.introspection.introspectAsJWT(token: access, for: es256, signer: signer), algorithm: .ES256)
        #expect(jws.algorithm == .ES256 && jws.kid == "server-es256" && jws.type == "token-introspection+jwt")
        #expect(claims["aud"]?.stringValue == "rs-es256")
        #expect(claims["token_introspection"]?["active"] == .bool(true))
    }

    @Test("unknown, revoked and expired tokens: token_introspection is {\"active\": false} and nothing else")
    func inactive() async throws {
        let revoked = try await core.tokenRequest("tpp", ["grant_type": "client_credentials"]).accessToken
        try await core.revocation.revoke(parameters: ["token": revoked], credentials: core.mtls("tpp", endpoint: .revocation))
        let expiring = try await core.tokenRequest("tpp", ["grant_type": "client_credentials"]).accessToken
        core.clock.advance(301)
        for token in ["unknown", revoked, expiring] {
            let (_, claims) = try verified(try await core.introspection.introspectAsJWT(token: token, for: ps256, signer: signer), algorithm: .PS256)
            #expect(claims["token_introspection"] == .object(["active": false]))
            #expect(claims["aud"]?.stringValue == "rs-ps256")
        }
        #expect(await failure { try await core.introspection.introspectAsJWT(token: nil, for: ps256, signer: signer) } == "invalid_request")
    }

    @Test("an algorithm without an active key is a server_error; discovery lists only the algorithms with a key")
    func missingKey() async throws {
        let eddsa = ResourceServer(id: "rs-eddsa", name: "EdDSA API", subjectDN: "CN=e,C=GB", createdAt: core.clock.now(), introspectionSignedResponseAlg: .EdDSA)
        #expect(await failure { try await core.introspection.introspectAsJWT(token: "unknown", for: eddsa, signer: signer) } == "server_error")
        #expect(signer.supportedAlgorithms() == [.PS256, .ES256])
        let metadata = ServerMetadata(issuer: Core.issuer).addingIntrospectionResponseSigning(algorithms: signer.supportedAlgorithms())
        #expect(metadata.members["introspection_signing_alg_values_supported"] == ["PS256", "ES256"])
    }

    @Test("a resource server's algorithm: PS256 by default, ES256 or EdDSA when the server has an active key of it, nothing else")
    func administration() async throws {
        let storage = MemoryStorage()
        let now = core.clock.now()
        try await storage.signingKeys.insertSigningKey(SigningKeyRecord(kid: "k-ps", algorithm: .PS256, keyFile: "ps.key", createdAt: now), audit: nil)
        try await storage.signingKeys.insertSigningKey(SigningKeyRecord(kid: "k-es", algorithm: .ES256, keyFile: "es.key", createdAt: now), audit: nil)
        let admin = AdministrationService(
            clients: storage.clients, resourceServers: storage.clients, clock: core.clock, entropy: SeededEntropy(seed: "rs"), signingKeys: storage.signingKeys)
        let plain = try await admin.addResourceServer(name: "plain", subjectDN: "CN=plain,C=GB", by: "op")
        let ec = try await admin.addResourceServer(name: "ec", subjectDN: "CN=ec,C=GB", introspectionSignedResponseAlg: "ES256", by: "op")
        #expect(plain.introspectionSignedResponseAlg == .PS256 && ec.introspectionSignedResponseAlg == .ES256)
        #expect(try await admin.resourceServers().map { [$0.name, $0.introspectionSignedResponseAlg.rawValue] } == [["ec", "ES256"], ["plain", "PS256"]])
        for refused in ["EdDSA", "RS256", "HS256", "none", "es256"] {
            await #expect(throws: AdministrationError.self) {
                _ = try await admin.addResourceServer(name: "x-\(refused)", subjectDN: "CN=x,C=GB", introspectionSignedResponseAlg: refused, by: "op")
            }
        }
        #expect(try await admin.resourceServers().count == 2, "nothing stored for a refused algorithm")
        try await storage.signingKeys.insertSigningKey(SigningKeyRecord(kid: "k-ed", algorithm: .EdDSA, keyFile: "ed.key", createdAt: now), audit: nil)
        #expect(try await admin.addResourceServer(name: "ed", subjectDN: "CN=ed,C=GB", introspectionSignedResponseAlg: "EdDSA", by: "op")
            .introspectionSignedResponseAlg == .EdDSA)
    }
}
