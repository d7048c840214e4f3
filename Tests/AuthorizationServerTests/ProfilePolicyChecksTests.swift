import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import Testing

/// The check-table steps that read the client's `ProfilePolicy`, one by one on hand-made clients of each profile.
@Suite("RequestChecks per profile (ProfilePolicy)")
struct ProfilePolicyChecksTests {
    static let redirect = "https://tpp.example/cb"

    static func client(_ profile: FAPIProfile, _ extra: [String: JSON] = [:]) throws -> Client {
        var metadata: [String: JSON] = [
            FAPIProfile.metadataMember: .string(profile.rawValue), "tls_client_auth_subject_dn": "CN=a,C=GB", "redirect_uris": [.string(redirect)],
            "grant_types": ["authorization_code"], "scope": "openid accounts", "response_types": profile.isFAPI2 ? ["code"] : ["code id_token", "code"],
        ]
        metadata.merge(extra) { $1 }
        return try Client(clientID: "c", metadata: metadata, createdAt: Date(timeIntervalSince1970: 1_800_000_000))
    }

    static func request(_ extra: [String: JSON] = [:]) throws -> AuthorizationRequest {
        var members: [String: JSON] = [
            "client_id": "c", "response_type": "code", "redirect_uri": .string(redirect), "scope": "openid accounts", "state": "s", "nonce": "n",
            "code_challenge": .string(Base64URL.encode(Crypto.sha256("v"))), "code_challenge_method": "S256",
        ]
        members.merge(extra) { $1 }
        return try AuthorizationRequest(json: .object(members.filter { $0.value != .null }))
    }

    static func code(_ step: () throws(OAuthError) -> Void) -> OAuthError.Code? {
        do {
            try step()
            return nil
        } catch {
            return error.code
        }
    }

    @Test("the FAPI 1 policy is today's rules; both FAPI 2 policies differ from it only where FAPI 2 does")
    func policies() throws {
        let fapi1 = FAPIProfile.fapi1Advanced.policy
        #expect(fapi1.responseTypes == ["code id_token", "code"] && fapi1.allowsHybrid && !fapi1.requiresPushedRequests)
        #expect(fapi1.requiresSignedRequestAtPAR && fapi1.codeNeedsJARM && fapi1.nonceRequiredWithOpenID && fapi1.stateRequiredWithoutOpenID)
        #expect(fapi1.assertionAudience == .issuerOrEndpoint && fapi1.assertionClockSkew == nil && fapi1.signingAlgorithms == JWSAlgorithm.fapi)
        #expect(fapi1.maximumPushedRequestLifetime == nil)
        for profile in [FAPIProfile.fapi2SecurityProfile, .fapi2MessageSigning] {
            let policy = profile.policy
            #expect(policy.responseTypes == ["code"] && !policy.allowsHybrid && policy.requiresPushedRequests && !policy.codeNeedsJARM)
            #expect(policy.assertionAudience == .issuerOnly && policy.assertionClockSkew == 10 && policy.signingAlgorithms == JWSAlgorithm.fapi2)
            #expect(try #require(policy.maximumPushedRequestLifetime) < 600)
        }
        #expect(!FAPIProfile.fapi2SecurityProfile.policy.requiresSignedRequestAtPAR && FAPIProfile.fapi2MessageSigning.policy.requiresSignedRequestAtPAR)
    }

    @Test("PAR is required for FAPI 2 clients even when they registered require_pushed_authorization_requests false")
    func pushedRequired() throws {
        let fapi1 = try Self.client(.fapi1Advanced, ["require_pushed_authorization_requests": false])
        let fapi2 = try Self.client(.fapi2SecurityProfile, ["require_pushed_authorization_requests": false])
        #expect(Self.code { () throws(OAuthError) in try RequestChecks.pushedRequestRequired(fapi1, serverRequires: false) } == nil)
        #expect(Self.code { () throws(OAuthError) in try RequestChecks.pushedRequestRequired(fapi2, serverRequires: false) } == .invalidRequest)
    }

    @Test("at /par: FAPI 1 and FAPI 2 MS need a signed request object, FAPI 2 SP takes form parameters; /authorize by value always needs one")
    func requestObjectRequired() throws {
        func refusal(_ profile: FAPIProfile, _ endpoint: RequestEndpoint) throws -> OAuthError.Code? {
            let subject = RequestCheckSubject(endpoint: endpoint, client: try Self.client(profile), parameters: ["response_type": "code"])
            return Self.code { () throws(OAuthError) in try RequestChecks.requestObjectRequired(subject) }
        }
        #expect(try refusal(.fapi1Advanced, .pushed) == .invalidRequest)
        #expect(try refusal(.fapi2MessageSigning, .pushed) == .invalidRequest)
        #expect(try refusal(.fapi2SecurityProfile, .pushed) == nil)
        #expect(try refusal(.fapi2SecurityProfile, .authorize) == .invalidRequest)
    }

    @Test("response types, JARM, nonce and state follow the policy")
    func requestRules() throws {
        let fapi1 = try Self.client(.fapi1Advanced)
        let fapi2 = try Self.client(.fapi2SecurityProfile)
        let hybrid = try Self.request(["response_type": "code id_token"])
        #expect(Self.code { () throws(OAuthError) in try RequestChecks.responseTypeSupported(hybrid, fapi1) } == nil)
        #expect(Self.code { () throws(OAuthError) in try RequestChecks.responseTypeSupported(hybrid, fapi2) } == .invalidRequest)
        let plainCode = try Self.request()
        #expect(Self.code { () throws(OAuthError) in try RequestChecks.codeNeedsJARM(plainCode, fapi1) } == .invalidRequest)
        #expect(Self.code { () throws(OAuthError) in try RequestChecks.codeNeedsJARM(plainCode, fapi2) } == nil)
        let noNonce = try Self.request(["nonce": .null])
        #expect(Self.code { () throws(OAuthError) in try RequestChecks.nonceRequired(noNonce, fapi1) } == .invalidRequest)
        #expect(Self.code { () throws(OAuthError) in try RequestChecks.nonceRequired(noNonce, fapi2) } == nil)
        let noState = try Self.request(["state": .null, "scope": "accounts"])
        #expect(Self.code { () throws(OAuthError) in try RequestChecks.stateRequired(noState, fapi1) } == .invalidRequest)
        #expect(Self.code { () throws(OAuthError) in try RequestChecks.stateRequired(noState, fapi2) } == nil)
    }

    @Test("form parameters become the request: client authentication members dropped, claims parsed, another client_id refused")
    func formParameters() throws {
        let client = try Self.client(.fapi2SecurityProfile)
        let form = [
            "client_id": "c", "response_type": "code", "redirect_uri": Self.redirect, "scope": "openid accounts", "max_age": "300",
            "code_challenge": Base64URL.encode(Crypto.sha256("v")), "code_challenge_method": "S256", "client_assertion": "x.y.z",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "claims": #"{"userinfo":{"name":null}}"#,
        ]
        let request = try RequestChecks.formParameters(form, client: client)
        #expect(request.clientID == "c" && request.maxAge == 300 && request.claims?["userinfo"] != nil && request.state == nil)
        #expect(request.json["client_assertion"] == nil)
        var other = form
        other["client_id"] = "someone"
        #expect(Self.code { () throws(OAuthError) in _ = try RequestChecks.formParameters(other, client: client) } == .invalidRequest)
        other = form
        other["claims"] = "[1]"
        #expect(Self.code { () throws(OAuthError) in _ = try RequestChecks.formParameters(other, client: client) } == .invalidRequest)
        var noClientID = form
        noClientID["client_id"] = nil
        #expect(try RequestChecks.formParameters(noClientID, client: client).clientID == "c")
    }
}
