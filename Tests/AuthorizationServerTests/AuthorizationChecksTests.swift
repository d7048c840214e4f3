import AuthorizationServer
import Foundation
import JOSE
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

    func request(responseType: String, mode: String? = nil) throws -> AuthorizationRequest {
        var members: [String: JSON] = [
            "client_id": "c", "response_type": .string(responseType), "redirect_uri": .string(Self.redirect), "scope": "openid accounts",
            "nonce": "n", "state": "s", "code_challenge": .string(Self.challenge), "code_challenge_method": "S256",
        ]
        if let mode { members["response_mode"] = .string(mode) }
        return try AuthorizationRequest(json: .object(members))
    }

    static func refusal(_ request: AuthorizationRequest, _ client: Client) -> OAuthError.Code? {
        do {
            try AuthorizationChecks.check(request, client: client)
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
            #expect(Self.refusal(plain, fapi) == .unsupportedResponseType)
        }
        for mode in ["jwt", "query.jwt", "form_post.jwt"] {
            try AuthorizationChecks.check(request(responseType: "code", mode: mode), client: fapi)
        }
        try AuthorizationChecks.check(request(responseType: "code id_token"), client: fapi)
        try AuthorizationChecks.check(request(responseType: "code"), client: client(fapi: false))
    }
}
