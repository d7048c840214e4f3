import AuthorizationServer
import Foundation
import JOSE
import TestSupport
import Testing

/// The authorization endpoint's judgement: which request is authorized (PAR `request_uri` or a request
/// object by value), and the response that answers it (hybrid fragment, JARM, errors).
@Suite("AuthorizationService")
struct AuthorizationServiceTests {
    let core: Core

    init() async throws {
        core = try await Core()
        try await core.register("tpp", grants: ["authorization_code", "refresh_token"])
        try await core.register("byvalue", grants: ["authorization_code"], ["require_pushed_authorization_requests": false])
    }

    func begin(_ parameters: [String: String]) async throws -> AuthorizationService.Pending {
        try await core.authorization.begin(parameters: parameters)
    }

    func approve(_ pending: AuthorizationService.Pending) async throws -> AuthorizationResponse {
        try await core.authorization.approve(pending, subject: "alice", authTime: core.clock.now())
    }

    @Test("a pushed request is resumed by its request_uri and approved with a code and a detached ID Token (OIDC Core §3.3.2.5)")
    func hybrid() async throws {
        let uri = try await core.push("tpp")
        let pending = try await begin(["client_id": "tpp", "request_uri": uri])
        #expect(pending.request.nonce == "n-0S6_WzA2Mj")
        let response = try await approve(pending)
        guard case .redirect(let url) = response else { Issue.record("not a redirect"); return }
        #expect(url.absoluteString.hasPrefix(Core.redirectURI + "#"))
        let members = responseMembers(response)
        let code = try #require(members["code"])
        #expect(members["state"] == "af0ifjsldkj")
        #expect(members["iss"] == Core.issuer)
        let claims = try core.verifiedClaims(try #require(members["id_token"]))
        #expect(claims["nonce"]?.stringValue == "n-0S6_WzA2Mj")
        #expect(claims["c_hash"]?.stringValue == IDTokenIssuer.halfHash(code))
        #expect(claims["s_hash"]?.stringValue == IDTokenIssuer.halfHash("af0ifjsldkj"))
        #expect(claims["auth_time"]?.int64Value == Int64(core.clock.now().timeIntervalSince1970))
        #expect(try await core.auditTypes() == ["consent.given"])
        // The code is redeemable at the token endpoint with the PKCE verifier.
        let tokens = try await core.tokenRequest(
            "tpp", ["grant_type": "authorization_code", "code": code, "redirect_uri": Core.redirectURI, "code_verifier": Core.verifier])
        #expect(try core.verifiedClaims(try #require(tokens.idToken))["nonce"]?.stringValue == "n-0S6_WzA2Mj")
    }

    @Test("a request_uri is single use (RFC 9126 §4): approved once, then invalid_request_uri at approval and at begin")
    func requestURISingleUse() async throws {
        let uri = try await core.push("tpp")
        let pending = try await begin(["client_id": "tpp", "request_uri": uri])
        let again = try await begin(["client_id": "tpp", "request_uri": uri])
        _ = try await approve(pending)
        #expect(await failure { try await approve(again) } == "invalid_request_uri")
        #expect(await failure { try await begin(["client_id": "tpp", "request_uri": uri]) } == "invalid_request_uri")
    }

    @Test("an expired, unknown or other client's request_uri is invalid_request_uri")
    func requestURIRefused() async throws {
        try await core.register("rival", grants: ["authorization_code"])
        let uri = try await core.push("tpp")
        #expect(await failure { try await begin(["client_id": "rival", "request_uri": uri]) } == "invalid_request_uri")
        #expect(await failure { try await begin(["client_id": "tpp", "request_uri": PushedAuthorizationService.uriPrefix + "x"]) } == "invalid_request_uri")
        core.clock.advance(91)
        #expect(await failure { try await begin(["client_id": "tpp", "request_uri": uri]) } == "invalid_request_uri")
    }

    @Test("JARM (response_mode jwt): the code travels in one signed response JWT with iss, aud and exp")
    func jarm() async throws {
        let uri = try await core.push("tpp", ["response_type": "code", "response_mode": "jwt", "nonce": .null, "scope": "accounts"])
        let response = try await approve(try await begin(["client_id": "tpp", "request_uri": uri]))
        guard case .redirect(let url) = response else { Issue.record("not a redirect"); return }
        #expect(url.absoluteString.hasPrefix(Core.redirectURI + "?response="))
        let members = responseMembers(response)
        #expect(members.keys.sorted() == ["response"])
        let claims = try core.verifiedClaims(try #require(members["response"]))
        #expect(claims["iss"]?.stringValue == Core.issuer)
        #expect(claims["aud"]?.stringValue == "tpp")
        #expect(claims["state"]?.stringValue == "af0ifjsldkj")
        #expect(claims["code"]?.stringValue?.count == 43)
        #expect(try claims.date("exp") == core.clock.now().timeIntervalSince1970 + 300)
    }

    @Test("with openid, nonce is required (FAPI 1 Advanced §5.2.2.2): refused at PAR, and by value before any redirect")
    func nonceRequired() async throws {
        #expect(await failure { try await core.push("tpp", ["nonce": .null]) } == "invalid_request")
        let object = try core.requestObject("byvalue", ["nonce": .null])
        let error = await #expect(throws: AuthorizationError.self) { try await begin(["client_id": "byvalue", "request": object]) }
        #expect(error?.error.code == .invalidRequest)
        #expect(error?.redirect == nil)
    }

    @Test("a signed request object by value is accepted for a client that does not require PAR, not for one that does")
    func byValue() async throws {
        let pending = try await begin(["client_id": "byvalue", "request": try core.requestObject("byvalue")])
        #expect(pending.requestURIHash == nil)
        #expect(responseMembers(try await approve(pending))["code"] != nil)
        #expect(await failure { try await begin(["client_id": "tpp", "request": try core.requestObject("tpp")]) } == "invalid_request")
        #expect(await failure { try await begin(["client_id": "byvalue"]) } == "invalid_request")
    }

    @Test("no client_id, an unknown client, or request and request_uri together is an error shown to the PSU")
    func pageErrors() async throws {
        #expect(await failure { try await begin([:]) } == "invalid_request")
        #expect(await failure { try await begin(["client_id": "nobody", "request_uri": "urn:x"]) } == "invalid_request")
        #expect(await failure { try await begin(["client_id": "tpp", "request_uri": "urn:x", "request": "x"]) } == "invalid_request")
    }

    @Test("a refusal redirects access_denied with the state, consumes the request_uri, and is audited")
    func deny() async throws {
        let uri = try await core.push("tpp")
        let pending = try await begin(["client_id": "tpp", "request_uri": uri])
        let members = responseMembers(await core.authorization.deny(pending, user: "alice"))
        #expect(members["error"] == "access_denied")
        #expect(members["state"] == "af0ifjsldkj")
        #expect(await failure { try await approve(pending) } == "invalid_request_uri")
        #expect(try await core.auditTypes() == ["consent.denied"])
    }

    @Test("an essential acr the sign-in did not reach is access_denied (OIDC Core §5.5.1.1)")
    func essentialACR() async throws {
        let claims: JSON = ["id_token": ["acr": ["essential": true, "values": ["urn:openbanking:psd2:sca"]]]]
        let uri = try await core.push("tpp", ["claims": claims])
        let pending = try await begin(["client_id": "tpp", "request_uri": uri])
        // A failed authentication that may go back to the client: the error carries the redirect.
        let refusal = await #expect(throws: AuthorizationError.self) { try await approve(pending) }
        let members = try responseMembers(#require(refusal?.redirect))
        #expect(members["error"] == "access_denied")
        #expect(members["code"] == nil)
    }
}
