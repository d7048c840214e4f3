import AuthorizationServer
import HTTPTypes
import Hummingbird
import Testing

@testable import HTTPEndpoints

/// RFC 9449 at the edge: the resource's DPoP challenge, and the AS errors' ordinary rendering.
@Suite("DPoP responses")
struct DPoPResponseTests {
    @Test("at a resource, token and proof errors are 401 with a DPoP challenge naming the error and the algorithms (§7.1, §9)")
    func resourceChallenge() {
        for code in [OAuthError.Code.invalidDPoPProof, .useDPoPNonce, .invalidToken] {
            let response = OAuthResponse.resourceDPoPError(OAuthError(code, "refused"))
            #expect(response.status == .unauthorized)
            #expect(response.headers[.wwwAuthenticate] == #"DPoP error="\#(code.rawValue)", algs="PS256 ES256 EdDSA""#)
            #expect(response.headers[.cacheControl] == "no-store")
        }
        let other = OAuthResponse.resourceDPoPError(OAuthError(.invalidRequest, "access tokens are not accepted in the query"))
        #expect(other.status == .badRequest)
        #expect(other.headers[.wwwAuthenticate] == nil)
    }

    @Test("at the authorization server, invalid_dpop_proof and use_dpop_nonce are 400 JSON without a challenge (§5, §8)")
    func authorizationServer() {
        for code in [OAuthError.Code.invalidDPoPProof, .useDPoPNonce] {
            let response = OAuthResponse.render(OAuthError(code, "refused"))
            #expect(response.status == .badRequest)
            #expect(response.headers[.wwwAuthenticate] == nil)
            #expect(response.headers[.contentType] == "application/json")
        }
    }

    @Test("Authorization: DPoP in any case gives the token; Bearer does not")
    func scheme() {
        func request(_ value: String) -> Request {
            var head = HTTPRequest(method: .get, scheme: "https", authority: "as.example", path: "/userinfo")
            head.headerFields[.authorization] = value
            return Request(head: head, body: .init(buffer: .init()))
        }
        #expect(Endpoints.dpopAuthorization(request("DPoP abc")) == "abc")
        #expect(Endpoints.dpopAuthorization(request("dpop abc")) == "abc")
        #expect(Endpoints.dpopAuthorization(request("DPOP abc")) == "abc")
        #expect(Endpoints.dpopAuthorization(request("Bearer abc")) == nil)
    }
}
