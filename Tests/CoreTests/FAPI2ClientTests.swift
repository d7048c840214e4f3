import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// The FAPI profile of a client: chosen at registration (metadata, software statement, the server default),
/// validated per profile, changed by an administrative update; and the FAPI 2 rules of client authentication and
/// refresh, beside the unchanged FAPI 1 ones.
@Suite("FAPI profile of clients (ProfilePolicy)")
struct FAPI2ClientTests {
    let core: Core

    init() async throws { core = try await Core() }

    /// Metadata of a FAPI 2 tls_client_auth client, `extra` replacing members (`.null` drops one).
    func fapi2Metadata(_ extra: [String: JSON] = [:], profile: FAPIProfile = .fapi2SecurityProfile) -> [String: JSON] {
        var metadata: [String: JSON] = [
            FAPIProfile.metadataMember: .string(profile.rawValue), "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": .string(core.credentials.tpp[0].subjectDN), "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [.string(Core.redirectURI)], "scope": "openid accounts", "response_types": ["code"],
        ]
        metadata.merge(extra) { $1 }
        return metadata.filter { $0.value != .null }
    }

    func metadataError(_ metadata: [String: JSON]) -> ClientMetadataError? {
        do {
            _ = try Client(clientID: "c", metadata: metadata, createdAt: core.clock.now())
            return nil
        } catch {
            return error
        }
    }

    // MARK: Registration rules

    @Test("FAPI 2 registration: response_types code only, no implicit, PS256/ES256/EdDSA only, one of the three confidential methods")
    func registrationRules() throws {
        #expect(metadataError(fapi2Metadata()) == nil)
        #expect(metadataError(fapi2Metadata(profile: .fapi2MessageSigning)) == nil)
        #expect(metadataError(fapi2Metadata(["response_types": ["code id_token"]]))?.field == "response_types")
        #expect(metadataError(fapi2Metadata(["response_types": ["code", "code id_token"]]))?.field == "response_types")
        #expect(metadataError(fapi2Metadata(["grant_types": ["authorization_code", "implicit"]]))?.field == "grant_types")
        for method in ["none", "client_secret_basic", "client_secret_jwt"] {
            #expect(metadataError(fapi2Metadata(["token_endpoint_auth_method": .string(method)]))?.field == "token_endpoint_auth_method")
        }
        for field in ["token_endpoint_auth_signing_alg", "request_object_signing_alg", "id_token_signed_response_alg", "authorization_signed_response_alg"] {
            #expect(metadataError(fapi2Metadata([field: "RS256"]))?.field == field)
            #expect(metadataError(fapi2Metadata([field: "EdDSA"])) == nil)
        }
        // FAPI 1 keeps PS256/ES256 only, and the hybrid flow.
        var fapi1 = fapi2Metadata([:])
        fapi1[FAPIProfile.metadataMember] = nil
        #expect(metadataError(fapi1.merging(["token_endpoint_auth_signing_alg": "EdDSA"]) { $1 })?.reason == "FAPI clients must use PS256 or ES256")
        #expect(metadataError(fapi1.merging(["response_types": ["code id_token", "code"], "grant_types": ["authorization_code", "implicit"]]) { $1 }) == nil)
        #expect(metadataError(fapi2Metadata(["fapi_profile": "fapi3"]))?.field == FAPIProfile.metadataMember)
        #expect(metadataError(fapi2Metadata(["fapi": false]))?.field == FAPIProfile.metadataMember)
        let client = try Client(clientID: "c", metadata: fapi2Metadata(["request_object_signing_alg": .null]), createdAt: core.clock.now())
        #expect(client.allowedAlgorithms(for: .requestObject) == [.PS256, .ES256, .EdDSA])
        #expect(client.policy == .fapi2SecurityProfile && client.assertionAudienceRule == .issuerOnly)
    }

    @Test("token binding at registration: FAPI 1 always certificate-bound (never dpop_bound_access_tokens); FAPI 2 certificate-bound unless dpop_bound_access_tokens")
    func binding() throws {
        let mtls = try Client(clientID: "c", metadata: fapi2Metadata(), createdAt: core.clock.now())
        #expect(mtls.metadata["tls_client_certificate_bound_access_tokens"] == true && mtls.requiresBoundTokens)
        let keys = CoreCredentials.jwks([try core.credentials.clientJWK])
        let dpop = try Client(
            clientID: "c",
            metadata: fapi2Metadata(["token_endpoint_auth_method": "private_key_jwt", "tls_client_auth_subject_dn": .null, "jwks": keys, "dpop_bound_access_tokens": true]),
            createdAt: core.clock.now())
        #expect(dpop.metadata["tls_client_certificate_bound_access_tokens"] == nil && !dpop.requiresBoundTokens)
        var fapi1 = fapi2Metadata(["dpop_bound_access_tokens": true])
        fapi1[FAPIProfile.metadataMember] = nil
        // FAPI 1 Advanced knows certificate binding only.
        #expect(metadataError(fapi1)?.field == "dpop_bound_access_tokens")
        #expect(metadataError(fapi2Metadata(["dpop_bound_access_tokens": "yes"]))?.field == "dpop_bound_access_tokens")
    }

    @Test("the server default names the profile of metadata without one, stored so it shows back; fapi false clients are left alone")
    func resolving() {
        let resolved = FAPIProfile.resolving(["scope": "accounts"], serverDefault: .fapi2MessageSigning)
        #expect(resolved[FAPIProfile.metadataMember]?.stringValue == "fapi2-message-signing")
        let own = FAPIProfile.resolving([FAPIProfile.metadataMember: "fapi1-advanced"], serverDefault: .fapi2SecurityProfile)
        #expect(own[FAPIProfile.metadataMember]?.stringValue == "fapi1-advanced")
        #expect(FAPIProfile.resolving(["fapi": false], serverDefault: .fapi2SecurityProfile)[FAPIProfile.metadataMember] == nil)
    }

    // MARK: Administration

    func administration(default profile: FAPIProfile) -> AdministrationService {
        AdministrationService(
            clients: core.stores.clients, resourceServers: core.stores.clients, clock: core.clock, entropy: core.entropy, defaultProfile: profile)
    }

    @Test("fapictl clients add: the profile from the metadata, else the server default, stored")
    func addClient() async throws {
        let admin = administration(default: .fapi2SecurityProfile)
        var metadata = fapi2Metadata()
        metadata[FAPIProfile.metadataMember] = nil
        let defaulted = try await admin.addClient(metadata: metadata, by: "operator")
        #expect(defaulted.profile == .fapi2SecurityProfile)
        #expect(try await core.stores.clients.client(id: defaulted.clientID)?.metadata[FAPIProfile.metadataMember]?.stringValue == "fapi2-security-profile")
        let named = try await admin.addClient(metadata: fapi2Metadata(profile: .fapi2MessageSigning), by: "operator")
        #expect(named.profile == .fapi2MessageSigning)
        // With the default default, a client without a profile is FAPI 1 Advanced, and says so.
        let fapi1 = try await administration(default: .fapi1Advanced).addClient(metadata: metadata.merging(["response_types": ["code id_token"]]) { $1 }, by: "operator")
        #expect(fapi1.profile == .fapi1Advanced && fapi1.registeredJSON["fapi_profile"]?.stringValue == "fapi1-advanced")
    }

    @Test("fapictl clients update: the whole metadata replaced, client_id and creation time kept, audited; bad metadata changes nothing")
    func updateClient() async throws {
        let admin = administration(default: .fapi1Advanced)
        var fapi1 = fapi2Metadata(["response_types": ["code id_token", "code"]])
        fapi1[FAPIProfile.metadataMember] = nil
        let added = try await admin.addClient(metadata: fapi1, by: "operator")
        core.clock.advance(30)
        // The shown-back JSON, edited, is accepted (client_id and client_id_issued_at are shown values).
        var shown = try #require(added.registeredJSON.objectValue)
        shown[FAPIProfile.metadataMember] = "fapi2-security-profile"
        shown["response_types"] = ["code"]
        shown["client_name"] = "Renamed"
        let updated = try #require(try await admin.updateClient(id: added.clientID, metadata: shown, by: "operator"))
        #expect(updated.clientID == added.clientID && updated.createdAt == added.createdAt && updated.profile == .fapi2SecurityProfile)
        let stored = try #require(try await core.stores.clients.client(id: added.clientID))
        #expect(stored.profile == .fapi2SecurityProfile && stored.name == "Renamed" && stored.metadata["client_id"] == nil)
        #expect(try await core.auditTypes() == ["client.registered", "client.updated"])
        // A FAPI 2 client cannot keep the hybrid flow; the stored client is unchanged.
        await #expect {
            _ = try await admin.updateClient(id: added.clientID, metadata: shown.merging(["response_types": ["code id_token"]]) { $1 }, by: "operator")
        } throws: { error in
            guard case AdministrationError.invalidMetadata(let metadata) = error else { return false }
            return metadata.field == "response_types"
        }
        #expect(try await core.stores.clients.client(id: added.clientID)?.name == "Renamed")
        await #expect {
            _ = try await admin.updateClient(id: added.clientID, metadata: shown.merging(["client_id": "another"]) { $1 }, by: "operator")
        } throws: { error in
            guard case AdministrationError.otherClient = error else { return false }
            return true
        }
        #expect(try await admin.updateClient(id: "nobody", metadata: fapi1, by: "operator") == nil)
        // Without a profile in the replacement the client keeps its own, whatever the server default.
        var unnamed = shown
        unnamed[FAPIProfile.metadataMember] = nil
        let kept = try #require(try await admin.updateClient(id: added.clientID, metadata: unnamed, by: "operator"))
        #expect(kept.profile == .fapi2SecurityProfile && kept.metadata[FAPIProfile.metadataMember]?.stringValue == "fapi2-security-profile")
        // Named, it moves back.
        let back = try #require(
            try await admin.updateClient(id: added.clientID, metadata: fapi1.merging([FAPIProfile.metadataMember: "fapi1-advanced"]) { $1 }, by: "operator"))
        #expect(back.profile == .fapi1Advanced && back.metadata[FAPIProfile.metadataMember]?.stringValue == "fapi1-advanced")
    }

    // MARK: Dynamic registration

    func statement(_ claims: [String: JSON] = [:]) throws -> String {
        var members: [String: JSON] = [
            "iss": "https://directory.example", "iat": .int(Int64(core.clock.now().timeIntervalSince1970)), "jti": .string(UUID().uuidString),
            "software_id": "software-1", "org_id": "org-1", "software_roles": ["AISP"], "software_redirect_uris": [.string(Core.redirectURI)],
        ]
        members.merge(claims) { $1 }
        return try core.credentials.directorySigner.sign(claims: members)
    }

    func register(_ service: RegistrationService, _ statement: String, _ extra: [String: JSON] = [:]) async throws -> Client {
        var members: [String: JSON] = ["software_statement": .string(statement), "grant_types": ["authorization_code", "refresh_token"]]
        members.merge(extra) { $1 }
        return try await service.register(body: JSON.object(members).bytes, isJWT: false, certificate: core.certificate(core.credentials.tpp)).client
    }

    @Test("/register: fapi_profile from the software statement only (the request's is ignored), else the server default")
    func dynamicRegistration() async throws {
        // A TPP cannot choose its own profile.
        let fromRequest = try await register(core.registration, try statement(), ["fapi_profile": "fapi2-security-profile"])
        #expect(fromRequest.profile == .fapi1Advanced)
        let fromStatement = try await register(
            core.registration, try statement(["fapi_profile": "fapi2-message-signing"]), ["fapi_profile": "fapi2-security-profile"])
        #expect(fromStatement.profile == .fapi2MessageSigning && fromStatement.metadata["fapi_profile"]?.stringValue == "fapi2-message-signing")
        let fapi1 = try await register(core.registration, try statement())
        #expect(fapi1.profile == .fapi1Advanced && fapi1.metadata["fapi_profile"]?.stringValue == "fapi1-advanced")
        // A FAPI 2 registration that asks for the hybrid flow is invalid_client_metadata.
        #expect(
            await failure {
                try await register(core.registration, try statement(["fapi_profile": "fapi2-security-profile"]), ["response_types": ["code id_token"]])
            } == "invalid_client_metadata")
        var settings = RegistrationService.Settings(issuer: Core.issuer)
        settings.defaultProfile = .fapi2SecurityProfile
        let directory = TrustedDirectory(
            name: "test-directory", issuer: "https://directory.example",
            keys: .set(JWKSet(keys: [try JWK(key: core.credentials.directorySigner.key, kid: "directory-key")])), transportCAs: core.credentials.trust,
            roleScopes: TrustedDirectory.defaultRoleScopes)
        let defaulting = RegistrationService(
            directories: [directory], clients: core.stores.clients, registrations: core.stores.registrations, replay: core.stores.tokens,
            fetcher: OfflineFetcher(), status: nil, settings: settings, clock: core.clock, entropy: SeededEntropy(seed: "other"))
        let defaulted = try await register(defaulting, try statement())
        #expect(defaulted.profile == .fapi2SecurityProfile && defaulted.metadata["fapi_profile"]?.stringValue == "fapi2-security-profile")
    }

    // MARK: Client authentication

    func registerJWTClients() async throws {
        try await core.register("jwt2", method: .privateKeyJWT, grants: ["authorization_code", "refresh_token"], fapi2Metadata(["token_endpoint_auth_method": "private_key_jwt", "tls_client_auth_subject_dn": .null]))
        try await core.register("jwt1", method: .privateKeyJWT, grants: ["client_credentials"])
    }

    func authenticate(_ clientID: String, _ claims: [String: JSON] = [:], endpoint: ClientAuthEndpoint = .pushedAuthorization, signer: SigningKey? = nil)
        async -> String?
    {
        await failure { try await core.authenticator.authenticate(try core.assertion(clientID, claims, signer: signer, endpoint: endpoint)) }
    }

    @Test("FAPI2SPFinalPAREndpointAsAudienceFails / PARTokenEndpointAsAudienceFails / PAREndpointAsArrayAudienceFails; FAPI 1 accepts them")
    func assertionAudience() async throws {
        try await registerJWTClients()
        let audiences: [JSON] = [.string(Core.issuer + "/par"), .string(Core.issuer + "/token"), [.string(Core.issuer)], [.string(Core.issuer + "/token")]]
        for endpoint in [ClientAuthEndpoint.pushedAuthorization, .token] {
            for audience in audiences {
                #expect(await authenticate("jwt2", ["aud": audience], endpoint: endpoint) == "invalid_client", "\(audience) at \(endpoint)")
            }
            #expect(await authenticate("jwt2", endpoint: endpoint) == nil)
        }
        for audience in audiences {
            #expect(await authenticate("jwt1", ["aud": audience], endpoint: .pushedAuthorization) == nil, "\(audience)")
        }
    }

    @Test("FAPI 2 assertion times: iat/nbf 8 s ahead accepted, more than 60 s ahead refused, exp 5 min past refused; no sub and RS256 refused")
    func assertionWindow() async throws {
        try await registerJWTClients()
        let now = Int64(core.clock.now().timeIntervalSince1970)
        #expect(await authenticate("jwt2", ["iat": .int(now + 8), "nbf": .int(now + 8), "exp": .int(now + 68)]) == nil)
        #expect(await authenticate("jwt2", ["iat": .int(now + 61), "nbf": .int(now + 61), "exp": .int(now + 121)]) == "invalid_client")
        #expect(await authenticate("jwt2", ["nbf": .int(now + 61)]) == "invalid_client")
        #expect(await authenticate("jwt2", ["iat": .int(now - 360), "exp": .int(now - 300)]) == "invalid_client")
        #expect(await authenticate("jwt2", ["sub": .null]) == "invalid_client")
        #expect(await authenticate("jwt2", ["sub": "someone-else"]) == "invalid_client")
        // RS256: the header alone decides (FAPI 2 SP §5.4.1-1).
        let signed = try #require(try core.assertion("jwt2", endpoint: .pushedAuthorization).assertion)
        let parts = signed.split(separator: ".").map(String.init)
        let rs256 = Base64URL.encode(Array(#"{"alg":"RS256","kid":"client-key"}"#.utf8)) + "." + parts[1] + "." + parts[2]
        let credentials = ClientCredentials(
            clientID: "jwt2", assertionType: ClientAuthenticator.jwtBearerAssertionType, assertion: rs256, certificate: nil, hasAuthorizationHeader: false,
            endpoint: .pushedAuthorization)
        #expect(await failure { try await core.authenticator.authenticate(credentials) } == "invalid_client")
        // EdDSA is a FAPI 2 algorithm: a client registered with an Ed25519 key signs with it.
        let ed = try SigningKey(key: AsymmetricKey.generate(.ed25519), algorithm: .EdDSA, kid: "ed")
        try await core.register(
            "jwt-ed", method: .privateKeyJWT, grants: ["client_credentials"],
            [FAPIProfile.metadataMember: "fapi2-security-profile", "response_types": ["code"], "jwks": CoreCredentials.jwks([try JWK(key: ed.key, kid: "ed")])])
        #expect(await authenticate("jwt-ed", signer: ed) == nil)
    }

    // MARK: Refresh

    @Test("FAPI2SPFinalRefreshToken: not rotated (FAPI 2 SP §5.3.2.1), works again; without client authentication or with another certificate it fails")
    func refresh() async throws {
        try await core.register("sp", grants: ["authorization_code", "refresh_token"], [FAPIProfile.metadataMember: "fapi2-security-profile", "response_types": ["code"]])
        let first = try await core.codeTokens("sp")
        let token = try #require(first.refreshToken)
        let parameters = ["grant_type": "refresh_token", "refresh_token": token]
        let second = try await core.tokenRequest("sp", parameters)
        #expect(second.refreshToken == nil && second.accessToken != first.accessToken)
        _ = try await core.tokenRequest("sp", parameters)
        let anonymous = ClientCredentials(clientID: nil, assertionType: nil, assertion: nil, certificate: nil, hasAuthorizationHeader: false)
        #expect(await failure { try await core.token.token(parameters: parameters, credentials: anonymous) } == "invalid_client")
        let unauthenticated = ClientCredentials(clientID: "sp", assertionType: nil, assertion: nil, certificate: nil, hasAuthorizationHeader: false)
        #expect(await failure { try await core.token.token(parameters: parameters, credentials: unauthenticated) } == "invalid_client")
        #expect(await failure { try await core.tokenRequest("sp", parameters, core.credentials.other) } == "invalid_client")
        let record = try #require(try await core.accessToken(second.accessToken))
        #expect(record.certificateThumbprint == core.credentials.tpp[0].sha256Thumbprint)
    }
}
