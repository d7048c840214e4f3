import AuthorizationServer
import Foundation
import JOSE
import TestSupport
import Testing
import OpenSSLKit

/// Client authentication: RFC 8705 §2.1 (tls_client_auth), §2.2 (self_signed_tls_client_auth) and RFC 7523 §2.2
/// (private_key_jwt). Every failure is `invalid_client`, and is recorded in the audit log.
@Suite("ClientAuthenticator")
struct ClientAuthenticatorTests {
    let core: Core

    init() async throws {
        core = try await Core()
        try await core.register("mtls", grants: ["client_credentials"])
        try await core.register("self", method: .selfSignedTLSClientAuth, grants: ["client_credentials"])
        try await core.register("jwt", method: .privateKeyJWT, grants: ["client_credentials"])
    }

    func authenticate(_ credentials: ClientCredentials) async throws -> AuthenticatedClient {
        try await core.authenticator.authenticate(credentials)
    }

    // MARK: tls_client_auth

    @Test("tls_client_auth: a CA-issued certificate with the registered subject DN authenticates the client")
    func tlsGood() async throws {
        let client = try await authenticate(core.mtls("mtls"))
        #expect(client.client.clientID == "mtls")
        #expect(client.method == .tlsClientAuth)
        #expect(client.certificate?.thumbprint == core.credentials.tpp[0].sha256Thumbprint)
    }

    @Test("tls_client_auth: another subject, a self-signed certificate, or no certificate is invalid_client, and audited")
    func tlsWrongCertificate() async throws {
        #expect(await failure { try await authenticate(core.mtls("mtls", core.credentials.other)) } == "invalid_client")
        #expect(await failure { try await authenticate(core.mtls("mtls", core.credentials.selfSigned)) } == "invalid_client")
        let none = ClientCredentials(clientID: "mtls", assertionType: nil, assertion: nil, certificate: nil, hasAuthorizationHeader: false)
        #expect(await failure { try await authenticate(none) } == "invalid_client")
        #expect(try await core.auditTypes() == Array(repeating: "client.authentication_failed", count: 3))
    }

    @Test("an unknown client is invalid_client")
    func unknownClient() async {
        #expect(await failure { try await authenticate(core.mtls("nobody")) } == "invalid_client")
    }

    @Test("a certificate expired by the clock fails chain verification: invalid_client")
    func tlsExpired() async throws {
        core.clock.advance(CoreCredentials.pastValidity)
        #expect(await failure { try await authenticate(core.mtls("mtls")) } == "invalid_client")
    }

    // MARK: self_signed_tls_client_auth

    @Test("self_signed_tls_client_auth: a certificate whose key is registered authenticates the client")
    func selfSignedGood() async throws {
        let client = try await authenticate(core.mtls("self", core.credentials.selfSigned))
        #expect(client.method == .selfSignedTLSClientAuth)
    }

    @Test("self_signed_tls_client_auth: a certificate with an unregistered key is invalid_client")
    func selfSignedWrongKey() async {
        #expect(await failure { try await authenticate(core.mtls("self", core.credentials.other)) } == "invalid_client")
    }

    @Test("self_signed_tls_client_auth: a registered certificate past its notAfter is invalid_client")
    func selfSignedExpired() async {
        core.clock.advance(CoreCredentials.pastValidity)
        #expect(await failure { try await authenticate(core.mtls("self", core.credentials.selfSigned)) } == "invalid_client")
    }

    // MARK: private_key_jwt

    @Test("private_key_jwt: an assertion signed with the registered key, for the issuer, authenticates the client")
    func assertionGood() async throws {
        let client = try await authenticate(core.assertion("jwt"))
        #expect(client.method == .privateKeyJWT)
        #expect(client.certificate == nil)
    }

    @Test("private_key_jwt: an assertion's jti is single use (RFC 7523 §3 item 7)")
    func assertionReplayed() async throws {
        let credentials = try core.assertion("jwt", ["jti": "once"])
        _ = try await authenticate(credentials)
        #expect(await failure { try await authenticate(credentials) } == "invalid_client")
    }

    @Test("private_key_jwt: an audience that is not this server, or another endpoint's URL, is invalid_client")
    func assertionWrongAudience() async throws {
        #expect(await failure { try await authenticate(core.assertion("jwt", ["aud": "https://elsewhere.example"])) } == "invalid_client")
        // Made for the revocation endpoint, presented at the token endpoint.
        #expect(await failure { try await authenticate(core.assertion("jwt", ["aud": .string(Core.issuer + "/revoke")])) } == "invalid_client")
        // The token endpoint URL is accepted (FAPI 1 Advanced).
        _ = try await authenticate(core.assertion("jwt", ["aud": .string(Core.issuer + "/token")]))
    }

    @Test("private_key_jwt: an expired assertion, or one valid too far into the future, is invalid_client")
    func assertionExpired() async throws {
        let now = Int64(core.clock.now().timeIntervalSince1970)
        #expect(await failure { try await authenticate(core.assertion("jwt", ["exp": .int(now - 60)])) } == "invalid_client")
        #expect(await failure { try await authenticate(core.assertion("jwt", ["exp": .int(now + 7200)])) } == "invalid_client")
    }

    @Test("private_key_jwt: a signature by another key, sub ≠ iss, or a client_id other than iss is invalid_client")
    func assertionForged() async throws {
        #expect(await failure { try await authenticate(core.assertion("jwt", signer: core.credentials.strangerSigner)) } == "invalid_client")
        #expect(await failure { try await authenticate(core.assertion("jwt", ["sub": "mtls"])) } == "invalid_client")
        var mismatched = try core.assertion("jwt")
        mismatched.clientID = "mtls"
        #expect(await failure { try await authenticate(mismatched) } == "invalid_client")
    }

    @Test("a client registered for mTLS cannot authenticate with an assertion")
    func wrongMethod() async throws {
        #expect(await failure { try await authenticate(core.assertion("mtls")) } == "invalid_client")
    }
}
