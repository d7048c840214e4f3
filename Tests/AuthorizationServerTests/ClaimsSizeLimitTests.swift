import AuthorizationServer
import JOSE
import Testing

/// The `claims` member is stored with every PSU interaction: its size is bounded (CWE-400).
@Suite("AuthorizationRequest claims limit")
struct ClaimsSizeLimitTests {
    func request(claims: JSON) throws(OAuthError) -> AuthorizationRequest {
        try AuthorizationRequest(json: .object([
            "client_id": "c1", "response_type": "code id_token", "redirect_uri": "https://tpp.example/cb", "scope": "openid", "claims": claims,
        ]))
    }

    @Test("claims up to 4 KiB serialized are kept; larger ones are invalid_request")
    func bounded() throws {
        let fits: JSON = .object(["id_token": .object(["note": .object(["value": .string(String(repeating: "x", count: 4000))])])])
        #expect(try request(claims: fits).claims == fits)
        let large: JSON = .object(["id_token": .object(["note": .object(["value": .string(String(repeating: "x", count: 4097))])])])
        #expect(throws: OAuthError.self) { try request(claims: large) }
        do {
            _ = try request(claims: large)
        } catch {
            #expect(error.code == .invalidRequest)
        }
    }
}
