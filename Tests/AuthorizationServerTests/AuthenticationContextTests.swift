import AuthorizationServer
import JOSE
import Testing

@Suite("AuthenticationContext")
struct AuthenticationContextTests {
    static let reached = "urn:openbanking:psd2:ca"

    func decide(claims: JSON? = nil, acrValues: String? = nil) throws -> AuthenticationContext {
        var members: [String: JSON] = [
            "client_id": "c", "response_type": "code id_token", "redirect_uri": "https://tpp.example/cb", "scope": "openid", "nonce": "n",
        ]
        if let claims { members["claims"] = claims }
        if let acrValues { members["acr_values"] = .string(acrValues) }
        return AuthenticationContext.decide(for: try AuthorizationRequest(json: .object(members)), achieved: Self.reached)
    }

    @Test("an essential acr the sign-in did not reach fails the authentication (OIDC Core 5.5.1.1)")
    func essentialUnmet() throws {
        let sca: JSON = ["id_token": ["acr": ["essential": true, "values": ["urn:openbanking:psd2:sca"]]]]
        #expect(try decide(claims: sca) == AuthenticationContext(acr: nil, unmet: true))
        let single: JSON = ["id_token": ["acr": ["essential": true, "value": "urn:openbanking:psd2:sca"]]]
        #expect(try decide(claims: single).unmet)
    }

    @Test("the acr reached is stated whenever the client asked about acr")
    func reachedIsStated() throws {
        #expect(try decide() == AuthenticationContext(acr: nil, unmet: false))
        #expect(try decide(acrValues: "urn:openbanking:psd2:sca") == AuthenticationContext(acr: Self.reached, unmet: false))
        let voluntary: JSON = ["id_token": ["acr": ["values": ["urn:openbanking:psd2:sca"]]]]
        #expect(try decide(claims: voluntary) == AuthenticationContext(acr: Self.reached, unmet: false))
        let met: JSON = ["id_token": ["acr": ["essential": true, "values": [.string(Self.reached)]]]]
        #expect(try decide(claims: met) == AuthenticationContext(acr: Self.reached, unmet: false))
        let anyValue: JSON = ["id_token": ["acr": ["essential": true]]]
        #expect(try decide(claims: anyValue) == AuthenticationContext(acr: Self.reached, unmet: false))
    }
}
