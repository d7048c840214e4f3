import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// The FAPI 2.0 Security Profile and Message Signing rules on the authorization side, read from the client's
/// `ProfilePolicy`: PAR required, form parameters or signed request objects at `/par`, `code` only, PKCE,
/// `iss` in every response, no JARM needed, short `request_uri`s and codes. FAPI 1 clients in the same server
/// keep their rules. Test names follow the conformance modules where one exists.
@Suite("FAPI 2 authorization (ProfilePolicy)")
struct FAPI2AuthorizationTests {
    let core: Core

    init() async throws {
        core = try await Core()
        try await core.register("fapi1", grants: ["authorization_code", "refresh_token"])
        try await register("sp", profile: .fapi2SecurityProfile)
        try await register("ms", profile: .fapi2MessageSigning)
    }

    @discardableResult
    func register(_ clientID: String, profile: FAPIProfile, _ extra: [String: JSON] = [:]) async throws -> Client {
        var metadata: [String: JSON] = [FAPIProfile.metadataMember: .string(profile.rawValue), "response_types": ["code"]]
        metadata.merge(extra) { $1 }
        return try await core.register(clientID, grants: ["authorization_code", "refresh_token"], metadata)
    }

    /// The form a FAPI 2 SP client pushes unsigned (RFC 9126 §2.1), `extra` replacing members; "" drops one.
    func form(_ clientID: String, _ extra: [String: String] = [:]) -> [String: String] {
        var form = [
            "client_id": clientID, "response_type": "code", "redirect_uri": Core.redirectURI, "scope": "openid accounts", "state": "st-1",
            "nonce": "n-1", "code_challenge": Core.challenge, "code_challenge_method": "S256",
        ]
        form.merge(extra) { $1 }
        return form.filter { !$0.value.isEmpty }
    }

    func push(_ parameters: [String: String], client: String) async throws -> (requestURI: String, expiresIn: Int) {
        try await core.pushed.push(parameters: parameters, credentials: core.mtls(client, endpoint: .pushedAuthorization))
    }

    /// A request object for the code flow (`response_type=code`), as a FAPI 2 client signs it.
    func codeObject(_ clientID: String, _ claims: [String: JSON] = [:], signer: SigningKey? = nil) throws -> String {
        var members: [String: JSON] = ["response_type": "code"]
        members.merge(claims) { $1 }
        return try core.requestObject(clientID, members, signer: signer)
    }

    func begin(_ parameters: [String: String]) async throws -> AuthorizationService.Pending {
        try await core.authorization.begin(parameters: parameters)
    }

    func approve(_ pending: AuthorizationService.Pending) async throws -> AuthorizationResponse {
        try await core.authorization.approve(pending, subject: "alice", authTime: core.clock.now())
    }

    /// Push, resume by `request_uri`, approve: the response's members.
    func flow(_ parameters: [String: String], client: String) async throws -> (URL, [String: String]) {
        let uri = try await push(parameters, client: client).requestURI
        let response = try await approve(try await begin(["client_id": client, "request_uri": uri]))
        guard case .redirect(let url) = response else { throw OAuthError.server("not a redirect") }
        return (url, responseMembers(response))
    }

    // MARK: PAR

    @Test("FAPI2SPFinalHappyFlow: unsigned form parameters at PAR, resumed by request_uri only, code in the query with iss and state, no JARM needed")
    func happyFlow() async throws {
        let pushed = try await push(form("sp"), client: "sp")
        #expect(pushed.expiresIn == 90)
        let stored = try #require(try await core.stores.pushed.pushedRequest(uriHash: Crypto.sha256(pushed.requestURI), clientID: "sp", now: core.clock.now()))
        #expect(stored.request.codeChallenge == Core.challenge && stored.request.responseType == "code" && stored.request.nonce == "n-1")
        // FAPI2SPFinalStateOnlyOutsideRequestObjectNotUsed and -ParWithoutDuplicateParameters: only the pushed values count.
        let pending = try await begin(["client_id": "sp", "request_uri": pushed.requestURI, "state": "outside", "scope": "openid payments"])
        #expect(pending.request.state == "st-1" && pending.request.scopes == ["openid", "accounts"])
        let response = try await approve(pending)
        guard case .redirect(let url) = response else { Issue.record("not a redirect"); return }
        #expect(url.absoluteString.hasPrefix(Core.redirectURI + "?"))
        let members = responseMembers(response)
        #expect(members.keys.sorted() == ["code", "iss", "state"])
        #expect(members["iss"] == Core.issuer && members["state"] == "st-1")
        let tokens = try await core.tokenRequest(
            "sp", ["grant_type": "authorization_code", "code": try #require(members["code"]), "redirect_uri": Core.redirectURI, "code_verifier": Core.verifier])
        #expect(try core.verifiedClaims(try #require(tokens.idToken))["nonce"]?.stringValue == "n-1")
        #expect(tokens.refreshToken != nil)
    }

    @Test("FAPI 2 SP: a signed request object at PAR is accepted too, and checked as for FAPI 1")
    func signedAtPARForSecurityProfile() async throws {
        let pushed = try await push(["request": try codeObject("sp")], client: "sp")
        #expect(pushed.expiresIn == 90)
        #expect(await failure { try await push(["request": try codeObject("sp", signer: core.credentials.strangerSigner)], client: "sp") } == "invalid_request_object")
    }

    @Test("a FAPI 1 client's unsigned PAR is still refused (FAPI 1 Advanced §5.2.2-1)")
    func fapi1StillSigned() async throws {
        #expect(await failure { try await push(form("fapi1", ["response_type": "code id_token"]), client: "fapi1") } == "invalid_request")
    }

    @Test("FAPI2MessageSigning ensure-unsigned-request-at-par-endpoint-fails: invalid_request; a signed request object is accepted")
    func messageSigningNeedsSignedPAR() async throws {
        #expect(await failure { try await push(form("ms"), client: "ms") } == "invalid_request")
        _ = try await push(["request": try codeObject("ms")], client: "ms")
    }

    @Test("FAPI 2 MS request objects: exp, nbf, lifetime, audience, algorithm, key and nesting refused as for FAPI 1; an aud array and nbf +8 s accepted")
    func messageSigningRequestObjects() async throws {
        let now = Int64(core.clock.now().timeIntervalSince1970)
        let refused: [[String: JSON]] = [
            ["exp": .null], ["nbf": .null], ["exp": .int(now - 60), "nbf": .int(now - 600)], ["aud": "https://elsewhere.example"],
            ["nbf": .int(now), "exp": .int(now + 3601)], ["nbf": .int(now - 3601), "exp": .int(now + 60)],
            ["request_uri": "urn:ietf:params:oauth:request_uri:x"],
        ]
        for claims in refused {
            #expect(await failure { try await push(["request": try codeObject("ms", claims)], client: "ms") } == "invalid_request_object", "\(claims)")
        }
        // Another client's key (the stranger key is registered for another client).
        try await register("other", profile: .fapi2MessageSigning, ["jwks": CoreCredentials.jwks([try JWK(key: core.credentials.strangerSigner.key, kid: "client-key")])])
        #expect(await failure { try await push(["request": try codeObject("ms", signer: core.credentials.strangerSigner)], client: "ms") } == "invalid_request_object")
        // alg none, and RS256 (the header alone decides: never accepted for a FAPI client).
        let signed = try codeObject("ms")
        let parts = signed.split(separator: ".").map(String.init)
        let none = Base64URL.encode(Array(#"{"alg":"none"}"#.utf8)) + "." + parts[1] + "."
        let rs256 = Base64URL.encode(Array(#"{"alg":"RS256","kid":"client-key"}"#.utf8)) + "." + parts[1] + "." + parts[2]
        for token in [none, rs256] {
            #expect(await failure { try await push(["request": token], client: "ms") } == "invalid_request_object")
        }
        _ = try await push(["request": try codeObject("ms", ["aud": [.string(Core.issuer), "https://other.example"]])], client: "ms")
        _ = try await push(["request": try codeObject("ms", ["nbf": .int(now + 8)])], client: "ms")
    }

    @Test("FAPI2SPFinalEnsureResponseTypeCodeIdTokenFails / -ResponseTypeTokenFails: refused at PAR, signed or not; FAPI 1 keeps code id_token")
    func responseTypes() async throws {
        for type in ["code id_token", "token"] {
            #expect(await failure { try await push(form("sp", ["response_type": type]), client: "sp") } == "invalid_request", "\(type)")
            #expect(await failure { try await push(["request": try codeObject("sp", ["response_type": .string(type)])], client: "sp") } == "invalid_request")
            #expect(await failure { try await push(["request": try codeObject("ms", ["response_type": .string(type)])], client: "ms") } == "invalid_request")
        }
        _ = try await core.push("fapi1")
    }

    @Test("FAPI2SPFinalEnsureUnsignedAuthorizationRequestWithoutUsingParFails: parameters or a request object straight at /authorize are an error page, whatever the client registered")
    func parRequired() async throws {
        try await register("lax", profile: .fapi2SecurityProfile, ["require_pushed_authorization_requests": false])
        let unsigned = form("lax")
        let byValue = ["client_id": "lax", "request": try codeObject("lax")]
        for parameters in [unsigned, byValue, form("sp")] {
            do {
                _ = try await begin(parameters)
                Issue.record("accepted without PAR: \(parameters.keys.sorted())")
            } catch let error as AuthorizationError {
                #expect(error.error.code == .invalidRequest && error.redirect == nil)
            }
        }
        // A FAPI 1 client that registered require_pushed_authorization_requests false still may send a request object by value.
        try await core.register("byvalue", grants: ["authorization_code"], ["require_pushed_authorization_requests": false])
        _ = try await begin(["client_id": "byvalue", "request": try core.requestObject("byvalue")])
    }

    @Test("FAPI2SPFinalPAREnsurePKCERequired / -PlainPKCERejected / -EnsureRequestObjectWithoutRedirectUriFails / -RejectRequestUriInParAuthorizationFormParams")
    func parameterRules() async throws {
        #expect(await failure { try await push(form("sp", ["code_challenge": "", "code_challenge_method": ""]), client: "sp") } == "invalid_request")
        #expect(await failure { try await push(form("sp", ["code_challenge": Core.verifier, "code_challenge_method": "plain"]), client: "sp") } == "invalid_request")
        #expect(await failure { try await push(form("sp", ["redirect_uri": ""]), client: "sp") } == "invalid_request")
        #expect(await failure { try await push(form("sp", ["redirect_uri": "https://evil.example/cb"]), client: "sp") } == "invalid_request")
        #expect(await failure { try await push(form("sp", ["request_uri": "urn:ietf:params:oauth:request_uri:x"]), client: "sp") } == "invalid_request")
        #expect(await failure { try await push(form("sp", ["client_id": "fapi1"]), client: "sp") } == "invalid_request")
        #expect(await failure { try await push(form("sp", ["claims": "not json"]), client: "sp") } == "invalid_request")
        #expect(await failure { try await push(form("sp", ["scope": "openid admin"]), client: "sp") } == "invalid_scope")
        let pushed = try await push(form("sp", ["claims": #"{"id_token":{"acr":{"essential":false}}}"#]), client: "sp")
        let stored = try await core.stores.pushed.pushedRequest(uriHash: Crypto.sha256(pushed.requestURI), clientID: "sp", now: core.clock.now())
        #expect(stored?.request.claims?["id_token"]?["acr"] != nil)
    }

    @Test("FAPI2SPFinalEnsureAuthorizationRequestWithoutStateSuccess / -WithoutNonceSuccess / -With64CharNonceSuccess; FAPI 1 keeps its nonce and state rules")
    func stateAndNonce() async throws {
        let (_, withoutState) = try await flow(form("sp", ["state": ""]), client: "sp")
        #expect(withoutState["code"] != nil && withoutState["state"] == nil && withoutState["iss"] == Core.issuer)
        let (_, withoutNonce) = try await flow(form("sp", ["nonce": ""]), client: "sp")
        let code = try #require(withoutNonce["code"])
        let tokens = try await core.tokenRequest(
            "sp", ["grant_type": "authorization_code", "code": code, "redirect_uri": Core.redirectURI, "code_verifier": Core.verifier])
        #expect(try core.verifiedClaims(try #require(tokens.idToken))["nonce"] == nil)
        // Plain OAuth (no openid) without state.
        let (_, plainOAuth) = try await flow(form("sp", ["state": "", "nonce": "", "scope": "accounts"]), client: "sp")
        #expect(plainOAuth["code"] != nil && plainOAuth["state"] == nil)
        let nonce = String(repeating: "n", count: 64)
        let uri = try await push(form("sp", ["nonce": nonce]), client: "sp").requestURI
        #expect(try await begin(["client_id": "sp", "request_uri": uri]).request.nonce == nonce)
        // The same requests from a FAPI 1 client (signed, as it must) are refused.
        #expect(await failure { try await core.push("fapi1", ["nonce": .null]) } == "invalid_request")
        #expect(await failure { try await core.push("fapi1", ["nonce": .null, "state": .null, "scope": "accounts", "response_type": "code", "response_mode": "jwt"]) } == "invalid_request")
    }

    @Test("FAPI 1 still needs JARM for response_type code; FAPI 2 does not, and FAPI 2 MS may ask for JARM: iss, aud and exp inside the JWT")
    func jarm() async throws {
        #expect(await failure { try await core.push("fapi1", ["response_type": "code"]) } == "invalid_request")
        let uri = try await push(["request": try codeObject("ms", ["response_mode": "jwt"])], client: "ms").requestURI
        let response = try await approve(try await begin(["client_id": "ms", "request_uri": uri]))
        let members = responseMembers(response)
        #expect(members.keys.sorted() == ["response"])
        let claims = try core.verifiedClaims(try #require(members["response"]))
        #expect(claims["iss"]?.stringValue == Core.issuer && claims["aud"]?.stringValue == "ms" && claims["code"] != nil)
        #expect(claims["state"]?.stringValue == "af0ifjsldkj")
        let exp = try #require(try claims.date("exp"))
        #expect(exp > core.clock.now().timeIntervalSince1970)
    }

    @Test("FAPI2SPFinalUserRejectsAuthentication: access_denied goes back with iss")
    func deniedCarriesIssuer() async throws {
        let uri = try await push(form("sp"), client: "sp").requestURI
        let response = await core.authorization.deny(try await begin(["client_id": "sp", "request_uri": uri]), user: "alice")
        let members = responseMembers(response)
        #expect(members["error"] == "access_denied" && members["iss"] == Core.issuer && members["state"] == "st-1")
    }

    @Test("PAR expires_in: the server's lifetime, capped under 600 s for FAPI 2 clients (FAPI 2 SP §5.3.2.2); FAPI 1 keeps the server's")
    func requestURILifetime() async throws {
        let keys = ClientKeyResolver(fetcher: OfflineFetcher(), clock: core.clock)
        let service = PushedAuthorizationService(
            authenticator: core.authenticator, validator: RequestObjectValidator(keys: keys, replay: core.stores.tokens, issuer: Core.issuer, clock: core.clock),
            store: core.stores.pushed, clock: core.clock, lifetime: 600)
        let fapi2 = try await service.push(parameters: form("sp"), credentials: core.mtls("sp", endpoint: .pushedAuthorization))
        #expect(fapi2.expiresIn == 599)
        let fapi1 = try await service.push(parameters: ["request": try core.requestObject("fapi1")], credentials: core.mtls("fapi1", endpoint: .pushedAuthorization))
        #expect(fapi1.expiresIn == 600)
        core.clock.advance(599.5)
        #expect(await failure { try await begin(["client_id": "sp", "request_uri": fapi2.requestURI]) } == "invalid_request_uri")
        _ = try await begin(["client_id": "fapi1", "request_uri": fapi1.requestURI])
    }

    @Test("FAPI2SPFinalAttemptToUseExpiredAuthCode: a code first used after 60 s is invalid_grant")
    func codeLifetime() async throws {
        let (_, members) = try await flow(form("sp"), client: "sp")
        core.clock.advance(61)
        let request = ["grant_type": "authorization_code", "code": try #require(members["code"]), "redirect_uri": Core.redirectURI, "code_verifier": Core.verifier]
        #expect(await failure { try await core.tokenRequest("sp", request) } == "invalid_grant")
    }
}
