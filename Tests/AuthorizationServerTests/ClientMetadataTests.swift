import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import Testing

@Suite("Client metadata validation")
struct ClientMetadataTests {
    func field(_ metadata: [String: JSON]) -> String? {
        do {
            _ = try Client(clientID: "c", metadata: metadata, createdAt: Date())
            return nil
        } catch {
            return error.field
        }
    }

    static let ecJWK = JSON.object(try! JWK(key: AsymmetricKey.generate(.p256)).publicMembers)

    @Test("valid registrations pass and get defaults")
    func valid() throws {
        let client = try Client(clientID: "c", metadata: ["tls_client_auth_subject_dn": "CN=a,C=GB", "scope": "accounts payments"], createdAt: Date())
        #expect(client.authMethod == .tlsClientAuth)
        #expect(client.isFAPI)
        #expect(client.scopes == ["accounts", "payments"])
        #expect(client.grantTypes == ["authorization_code"])  // RFC 7591 §2
        #expect(client.metadata["tls_client_certificate_bound_access_tokens"] == true)
        #expect(client.allowedSigningAlgorithms == JWSAlgorithm.fapi)
        let jwt = try Client(clientID: "d", metadata: ["token_endpoint_auth_method": "private_key_jwt", "jwks": ["keys": [Self.ecJWK]]], createdAt: Date())
        #expect(jwt.jwks?.keys.count == 1)
    }

    @Test("each bad field is named")
    func invalid() throws {
        var privateJWK = try JWK(key: AsymmetricKey.generate(.p256), includePrivate: true).members
        privateJWK["kid"] = "p"
        #expect(field(["token_endpoint_auth_method": "client_secret_basic"]) == "token_endpoint_auth_method")
        #expect(field(["token_endpoint_auth_method": "none"]) == "token_endpoint_auth_method")
        #expect(field(["tls_client_auth_subject_dn": "CN=a", "redirect_uris": ["http://x.example/cb"]]) == "redirect_uris")
        #expect(field(["tls_client_auth_subject_dn": "CN=a", "redirect_uris": ["https://x.example/cb#frag"]]) == "redirect_uris")
        #expect(field(["token_endpoint_auth_method": "private_key_jwt", "jwks": ["keys": [Self.ecJWK]], "jwks_uri": "https://x.example"]) == "jwks")
        #expect(field(["token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://x.example/jwks"]) == "jwks_uri")
        #expect(field(["token_endpoint_auth_method": "private_key_jwt", "jwks": ["keys": [.object(privateJWK)]]]) == "jwks")
        #expect(field(["token_endpoint_auth_method": "private_key_jwt"]) == "jwks")
        #expect(field(["token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://x.example/j", "token_endpoint_auth_signing_alg": "RS256"])
            == "token_endpoint_auth_signing_alg")
        #expect(field(["tls_client_auth_subject_dn": "CN=a", "id_token_signed_response_alg": "none"]) == "id_token_signed_response_alg")
        #expect(field(["tls_client_auth_subject_dn": "not a dn"]) == "tls_client_auth_subject_dn")
        #expect(field(["tls_client_auth_subject_dn": "CN=a", "tls_client_auth_san_dns": "a.example"]) == "tls_client_auth_subject_dn")
        #expect(field(["tls_client_auth_subject_dn": "CN=a", "grant_types": ["password"]]) == "grant_types")
        #expect(field(["tls_client_auth_subject_dn": "CN=a", "fapi": "yes"]) == "fapi")
    }

    @Test("implicit is registered beside code id_token only, and is no token endpoint grant (OIDC Registration §2)")
    func implicitGrant() throws {
        let base: [String: JSON] = ["tls_client_auth_subject_dn": "CN=a,C=GB", "redirect_uris": ["https://tpp.example/cb"]]
        let hybrid = try Client(
            clientID: "h",
            metadata: base.merging(["grant_types": ["authorization_code", "implicit", "refresh_token"], "response_types": ["code id_token"]]) { $1 },
            createdAt: Date())
        #expect(hybrid.grantTypes == ["authorization_code", "implicit", "refresh_token"])
        let withoutImplicit = try Client(
            clientID: "o", metadata: base.merging(["grant_types": ["authorization_code"], "response_types": ["code id_token", "code"]]) { $1 },
            createdAt: Date())
        #expect(!withoutImplicit.grantTypes.contains("implicit"))
        #expect(field(base.merging(["grant_types": ["authorization_code", "implicit"]]) { $1 }) == "grant_types")
        #expect(field(base.merging(["grant_types": ["implicit"], "response_types": ["code"]]) { $1 }) == "grant_types")
        #expect(field(base.merging(["grant_types": ["implicit"], "response_types": ["id_token"]]) { $1 }) == "response_types")
        #expect(field(base.merging(["grant_types": ["implicit"], "response_types": ["id_token token"]]) { $1 }) == "response_types")
    }

    @Test("non-FAPI clients may use RS256")
    func nonFAPI() throws {
        let client = try Client(
            clientID: "c",
            metadata: ["fapi": false, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://x.example/j", "token_endpoint_auth_signing_alg": "RS256"],
            createdAt: Date()
        )
        #expect(client.allowedSigningAlgorithms == [.RS256])
    }
}
