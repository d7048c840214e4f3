import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// Dynamic client registration with a software statement from a trusted directory (RFC 7591 §2.3, §3.2), and
/// its management (RFC 7592).
@Suite("RegistrationService")
struct RegistrationServiceTests {
    let core: Core

    init() async throws { core = try await Core() }

    /// A software statement of the test directory for organisation org-1 (the TPP certificate's OU).
    func statement(_ claims: [String: JSON] = [:], signer: SigningKey? = nil) throws -> String {
        var members: [String: JSON] = [
            "iss": "https://directory.example", "iat": .int(Int64(core.clock.now().timeIntervalSince1970)), "jti": .string(UUID().uuidString),
            "software_id": "software-1", "org_id": "org-1", "software_roles": ["AISP"], "software_client_name": "TPP App",
            "software_redirect_uris": [.string(Core.redirectURI)], "software_jwks": CoreCredentials.jwks([try core.credentials.clientJWK]),
        ]
        members.merge(claims) { $1 }
        return try (signer ?? core.credentials.directorySigner).sign(claims: members)
    }

    func body(_ members: [String: JSON]) -> [UInt8] { JSON.object(members).bytes }

    func register(_ statement: String, _ extra: [String: JSON] = [:], _ chain: [X509Certificate]? = nil) async throws -> RegistrationService.Registered {
        var members: [String: JSON] = ["software_statement": .string(statement), "grant_types": ["authorization_code", "refresh_token"]]
        members.merge(extra) { $1 }
        return try await core.registration.register(body: body(members), isJWT: false, certificate: core.certificate(chain ?? core.credentials.tpp))
    }

    @Test("a statement signed by the directory and the TPP's certificate register a tls_client_auth client with the role's scopes")
    func registers() async throws {
        let registered = try await register(try statement())
        let entropy = SeededEntropy(seed: Core.seed)
        #expect(registered.client.clientID == entropy.hexIdentifier(bytes: 16))
        #expect(registered.registrationAccessToken == entropy.token())
        #expect(registered.client.authMethod == .tlsClientAuth)
        #expect(registered.client.scopes == ["openid", "accounts"])
        #expect(registered.client.redirectURIs == [Core.redirectURI])
        #expect(registered.client.name == "TPP App")
        #expect(registered.client.metadata["software_id"]?.stringValue == "software-1")
        #expect(registered.registration.certificateThumbprint == core.credentials.tpp[0].sha256Thumbprint)
        #expect(try await core.stores.clients.client(id: registered.client.clientID) != nil)
        #expect(try await core.auditTypes() == ["client.registered"])
        // The registered client authenticates with the certificate it registered with.
        _ = try await core.authenticator.authenticate(core.mtls(registered.client.clientID))
    }

    @Test("a statement with a bad signature, from no trusted directory, is invalid_software_statement")
    func badSignature() async throws {
        #expect(await failure { try await register(try statement(signer: core.credentials.strangerSigner)) } == "invalid_software_statement")
        // The same statement with the first character of its signature changed.
        var parts = try statement().split(separator: ".").map(String.init)
        parts[2] = (parts[2].hasPrefix("A") ? "B" : "A") + parts[2].dropFirst()
        let tampered = parts.joined(separator: ".")
        #expect(await failure { try await register(tampered) } == "invalid_software_statement")
        #expect(await failure { try await register("not a jws") } == "invalid_software_statement")
    }

    @Test("a statement is single use, must not be too old, and must name a software_id")
    func statementRules() async throws {
        let once = try statement()
        _ = try await register(once)
        #expect(await failure { try await register(once) } == "invalid_software_statement")
        let old = Int64(core.clock.now().timeIntervalSince1970) - 40 * 86_400
        #expect(await failure { try await register(try statement(["iat": .int(old)])) } == "invalid_software_statement")
        #expect(await failure { try await register(try statement(["software_id": .null])) } == "invalid_software_statement")
    }

    @Test("no transport certificate is invalid_client; another organisation's is unapproved_software_statement")
    func transportCertificate() async throws {
        let members: [String: JSON] = ["software_statement": .string(try statement())]
        #expect(await failure { try await core.registration.register(body: body(members), isJWT: false, certificate: nil) } == "invalid_client")
        #expect(await failure { try await register(try statement(), [:], core.credentials.other) } == "unapproved_software_statement")
        #expect(await failure { try await register(try statement(), [:], core.credentials.selfSigned) } == "unapproved_software_statement")
    }

    @Test("metadata beyond the statement is refused: a foreign redirect URI, a scope beyond the roles")
    func metadataRules() async throws {
        #expect(await failure { try await register(try statement(), ["redirect_uris": ["https://evil.example/cb"]]) } == "invalid_redirect_uri")
        #expect(await failure { try await register(try statement(), ["scope": "openid payments"]) } == "invalid_client_metadata")
    }

    /// An Open Banking UK registration request JWT: signed with the software's key, `iss` the software id, `aud` the issuer.
    func requestJWT(_ statement: String, _ claims: [String: JSON] = [:], signer: SigningKey? = nil) throws -> [UInt8] {
        let now = Int64(core.clock.now().timeIntervalSince1970)
        var members: [String: JSON] = [
            "iss": "software-1", "aud": .string(Core.issuer), "iat": .int(now), "exp": .int(now + 300), "jti": .string(UUID().uuidString),
            "software_statement": .string(statement), "grant_types": ["authorization_code"],
        ]
        members.merge(claims) { $1 }
        return Array(try (signer ?? core.credentials.clientSigner).sign(claims: members).utf8)
    }

    @Test("a request JWT signed with the statement's software key registers; one signed otherwise, or replayed, is invalid_client_metadata")
    func requestJWTs() async throws {
        let certificate = core.certificate(core.credentials.tpp)
        let body = try requestJWT(try statement(), ["jti": "request-1"])
        let registered = try await core.registration.register(body: body, isJWT: true, certificate: certificate)
        #expect(registered.client.grantTypes == ["authorization_code"])
        #expect(await failure {
            try await core.registration.register(body: try requestJWT(try statement(), signer: core.credentials.strangerSigner), isJWT: true, certificate: certificate)
        } == "invalid_client_metadata")
        #expect(await failure {
            try await core.registration.register(body: try requestJWT(try statement(), ["jti": "request-1"]), isJWT: true, certificate: certificate)
        } == "invalid_client_metadata")
        #expect(await failure {
            try await core.registration.register(body: try requestJWT(try statement(), ["aud": "https://elsewhere.example"]), isJWT: true, certificate: certificate)
        } == "invalid_client_metadata")
    }

    @Test("RFC 7592: read with the access token and the registration certificate; a wrong token or certificate is invalid_token")
    func read() async throws {
        let registered = try await register(try statement())
        let id = registered.client.clientID
        let (client, _) = try await core.registration.authorize(
            clientID: id, accessToken: registered.registrationAccessToken, certificate: core.certificate(core.credentials.tpp))
        #expect(client.clientID == id)
        #expect(await failure {
            try await core.registration.authorize(clientID: id, accessToken: "wrong", certificate: core.certificate(core.credentials.tpp))
        } == "invalid_token")
        #expect(await failure {
            try await core.registration.authorize(clientID: id, accessToken: registered.registrationAccessToken, certificate: core.certificate(core.credentials.other))
        } == "invalid_token")
        #expect(await failure {
            try await core.registration.authorize(clientID: "unknown", accessToken: registered.registrationAccessToken, certificate: core.certificate(core.credentials.tpp))
        } == "invalid_token")
    }

    @Test("RFC 7592 §2.2: an update replaces the metadata and rotates the access token; the old one stops working")
    func update() async throws {
        let registered = try await register(try statement())
        let id = registered.client.clientID
        let certificate = core.certificate(core.credentials.tpp)
        let updated = try await core.registration.update(
            clientID: id, accessToken: registered.registrationAccessToken,
            body: body(["client_id": .string(id), "client_name": "Renamed", "grant_types": ["authorization_code"]]), certificate: certificate)
        #expect(updated.client.name == "Renamed")
        #expect(updated.client.grantTypes == ["authorization_code"])
        #expect(updated.registrationAccessToken != registered.registrationAccessToken)
        #expect(await failure { try await core.registration.authorize(clientID: id, accessToken: registered.registrationAccessToken, certificate: certificate) } == "invalid_token")
        _ = try await core.registration.authorize(clientID: id, accessToken: updated.registrationAccessToken, certificate: certificate)
        // The body must name the client being updated.
        #expect(await failure {
            try await core.registration.update(
                clientID: id, accessToken: updated.registrationAccessToken, body: body(["client_id": "other"]), certificate: certificate)
        } == "invalid_request")
    }

    @Test("RFC 7592 §2.3: a delete removes the client and revokes its tokens; its access token no longer works")
    func delete() async throws {
        let registered = try await register(try statement())
        let id = registered.client.clientID
        let certificate = core.certificate(core.credentials.tpp)
        let tokens = try await core.codeTokens(id)
        try await core.registration.delete(clientID: id, accessToken: registered.registrationAccessToken, certificate: certificate)
        #expect(try await core.stores.clients.client(id: id) == nil)
        #expect(try await core.accessToken(tokens.accessToken)?.isActive(at: core.clock.now()) != true)
        #expect(await failure { try await core.registration.authorize(clientID: id, accessToken: registered.registrationAccessToken, certificate: certificate) } == "invalid_token")
        #expect(await failure { try await core.registration.delete(clientID: id, accessToken: "wrong", certificate: certificate) } == "invalid_token")
    }
}
