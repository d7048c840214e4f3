import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import Testing

@Suite("AuthorizationChecks")
struct AuthorizationChecksTests {
    static let redirect = "https://tpp.example/cb"
    static let challenge = Base64URL.encode(Crypto.sha256("a-verifier-of-forty-three-characters-or-more-x"))

    func client(fapi: Bool = true) throws -> Client {
        try Client(
            clientID: "c",
            metadata: [
                "fapi": .bool(fapi), "tls_client_auth_subject_dn": "CN=a,C=GB", "redirect_uris": [.string(Self.redirect)],
                "grant_types": ["authorization_code"], "scope": "openid accounts",
            ], createdAt: Date())
    }

    func request(responseType: String, mode: String? = nil, pkce: Bool = true, nonce: String? = "n") throws -> AuthorizationRequest {
        var members: [String: JSON] = [
            "client_id": "c", "response_type": .string(responseType), "redirect_uri": .string(Self.redirect), "scope": "openid accounts",
            "state": "s",
        ]
        if pkce {
            members["code_challenge"] = .string(Self.challenge)
            members["code_challenge_method"] = "S256"
        }
        if let nonce { members["nonce"] = .string(nonce) }
        if let mode { members["response_mode"] = .string(mode) }
        return try AuthorizationRequest(json: .object(members))
    }

    static func refusal(_ request: AuthorizationRequest, _ client: Client, _ delivery: AuthorizationChecks.Delivery = .pushed) -> OAuthError.Code? {
        do {
            try AuthorizationChecks.check(request, client: client, delivery: delivery)
            return nil
        } catch {
            return error.code
        }
    }

    @Test("FAPI 1 clients get response_type code only with JARM (FAPI 1 Advanced §5.2.2-2)")
    func codeNeedsJARM() throws {
        let fapi = try client()
        for mode in [nil, "query", "fragment", "form_post"] {
            let plain = try request(responseType: "code", mode: mode)
            #expect(Self.refusal(plain, fapi) == .invalidRequest)
        }
        for mode in ["jwt", "query.jwt", "form_post.jwt"] {
            try AuthorizationChecks.check(request(responseType: "code", mode: mode), client: fapi, delivery: .pushed)
        }
        try AuthorizationChecks.check(request(responseType: "code id_token"), client: fapi, delivery: .pushed)
        try AuthorizationChecks.check(request(responseType: "code"), client: client(fapi: false), delivery: .pushed)
    }

    @Test("PKCE is required with PAR and optional by value (FAPI 1 Advanced §5.2.2-18)")
    func pkceByDelivery() throws {
        let fapi = try client()
        let withoutPKCE = try request(responseType: "code id_token", pkce: false)
        #expect(Self.refusal(withoutPKCE, fapi, .pushed) == .invalidRequest)
        #expect(Self.refusal(withoutPKCE, fapi, .byValue) == nil)
        #expect(Self.refusal(try request(responseType: "code id_token"), fapi, .byValue) == nil)
    }

    @Test("nonce is required whenever openid is asked for, JARM code flow included (FAPI 1 Advanced §5.2.2.2)")
    func nonceWithOpenID() throws {
        let fapi = try client()
        #expect(Self.refusal(try request(responseType: "code", mode: "jwt", nonce: nil), fapi) == .invalidRequest)
        #expect(Self.refusal(try request(responseType: "code id_token", nonce: nil), fapi) == .invalidRequest)
        #expect(Self.refusal(try request(responseType: "code", mode: "jwt"), fapi) == nil)
    }
}

@Suite("PKCE verifier at the token endpoint")
struct PKCEVerifierTests {
    static let verifier = "a-verifier-of-forty-three-characters-or-more-x"

    func code(_ verifier: String?, _ challenge: String) -> OAuthError.Code? {
        do {
            try AuthorizationCodeGrant.checkVerifier(verifier, challenge: challenge)
            return nil
        } catch {
            return error.code
        }
    }

    @Test("missing or wrong verifiers are invalid_grant (RFC 7636 §4.6); no verifier for a code without PKCE")
    func verifier() {
        let challenge = Base64URL.encode(Crypto.sha256(Self.verifier))
        #expect(code(Self.verifier, challenge) == nil)
        #expect(code(nil, challenge) == .invalidGrant)
        #expect(code("", challenge) == .invalidGrant)
        #expect(code(Self.verifier + "y", challenge) == .invalidGrant)
        #expect(code(nil, "") == nil)
        #expect(code(Self.verifier, "") == .invalidGrant)
    }
}
