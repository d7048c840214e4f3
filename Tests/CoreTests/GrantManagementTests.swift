import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// Grant Management for OAuth 2.0 (draft -02): `grant_management_action` at PAR, `merge`/`replace` at approval,
/// `GET`/`DELETE /grants/{grant_id}` for the owning client with a scoped, sender-constrained access token.
@Suite("Grant Management (draft -02)")
struct GrantManagementTests {
    let flow: ConsentCore

    init() async throws {
        flow = try await ConsentCore()
        try await flow.register("sp")
        try await flow.register("other")
    }

    /// An authorised account-information grant of "sp": its token response.
    func grant(_ details: JSON = ConsentCore.balances) async throws -> TokenResponse {
        try await flow.tokens(details, client: "sp", ["scope": "openid accounts", "grant_management_action": "create"])
    }

    @Test("create makes a new grant and grant_id is in the token response")
    func create() async throws {
        let response = try await grant()
        let consent = try await flow.consent(of: "sp")
        #expect(response.grantID == consent.id && consent.status == .authorised)
    }

    @Test("merge unites the grant's details and scopes with the request's; the token carries the merged grant")
    func merge() async throws {
        let first = try await grant()
        let grantID = try #require(first.grantID)
        let uri = try await flow.pushDetails(
            ConsentCore.transactions, client: "sp", ["scope": "openid payments", "grant_management_action": "merge", "grant_id": grantID])
        let pending = try await flow.begin(uri, client: "sp")
        let shown = try #require(await flow.consents.presentation(for: pending.request))
        #expect(shown.action == .merge && shown.details == ConsentCore.transactions && shown.consentID == grantID)
        let response = try await flow.redeem(try #require(try await flow.approve(pending)["code"]), client: "sp")
        #expect(response.grantID == grantID)
        let merged = try await flow.consent(of: "sp")
        #expect(merged.authorizationDetails == .array((ConsentCore.balances.arrayValue ?? []) + (ConsentCore.transactions.arrayValue ?? [])))
        #expect(merged.scope == "openid accounts payments" && response.scope == "openid accounts payments")
        #expect(response.authorizationDetails == merged.authorizationDetails)
    }

    @Test("replace makes the grant exactly the request's")
    func replace() async throws {
        let grantID = try #require(try await grant().grantID)
        let uri = try await flow.pushDetails(
            ConsentCore.transactions, client: "sp", ["scope": "openid accounts", "grant_management_action": "replace", "grant_id": grantID])
        _ = try await flow.redeem(try #require(try await flow.approve(try await flow.begin(uri, client: "sp"))["code"]), client: "sp")
        #expect(try await flow.consent(of: "sp").authorizationDetails == ConsentCore.transactions)
    }

    @Test("merge without grant_id is invalid_request; another client's or an unknown grant_id is invalid_grant_id; a bad action invalid_request")
    func mergeErrors() async throws {
        let grantID = try #require(try await grant().grantID)
        #expect(
            await failure { try await flow.pushDetails(ConsentCore.transactions, client: "sp", ["grant_management_action": "merge"]) }
                == "invalid_request")
        #expect(
            await failure {
                try await flow.pushDetails(ConsentCore.transactions, client: "other", ["grant_management_action": "merge", "grant_id": grantID])
            } == "invalid_grant_id")
        #expect(
            await failure {
                try await flow.pushDetails(ConsentCore.transactions, client: "sp", ["grant_management_action": "replace", "grant_id": "unknown"])
            } == "invalid_grant_id")
        #expect(
            await failure { try await flow.pushDetails(ConsentCore.transactions, client: "sp", ["grant_management_action": "update"]) }
                == "invalid_request")
    }

    @Test("a payment never joins a grant or replaces one, and an authorised payment is never merged into")
    func paymentsAreNotMerged() async throws {
        let accounts = try #require(try await grant().grantID)
        for action in ["merge", "replace"] {
            #expect(
                await failure {
                    try await flow.pushDetails(
                        ConsentCore.payment, client: "sp", ["scope": "openid accounts payments", "grant_management_action": action, "grant_id": accounts])
                } == "invalid_authorization_details")
        }
        // An authorised payment whose code is not redeemed yet is still authorised: a merge into it is refused too.
        let uri = try await flow.pushDetails(ConsentCore.payment, client: "other", ["scope": "openid payments", "grant_management_action": "create"])
        _ = try await flow.approve(try await flow.begin(uri, client: "other"))
        let payment = try await flow.consent(of: "other")
        #expect(payment.status == .authorised)
        #expect(
            await failure {
                try await flow.pushDetails(
                    ConsentCore.balances, client: "other", ["scope": "openid accounts payments", "grant_management_action": "merge", "grant_id": payment.id])
            } == "invalid_authorization_details")
    }

    @Test("GET /grants/{id}: the grant with scopes as {scope} objects and the details; scope, ownership and token checked")
    func query() async throws {
        let grantID = try #require(try await grant().grantID)
        let token = try await flow.managementToken("sp", scope: GrantManagementService.queryScope)
        let certificate = flow.core.certificate(flow.core.credentials.tpp)
        guard case .grant(let document) = try await flow.grants.query(grantID: grantID, accessToken: token, scheme: .bearer, certificate: certificate)
        else {
            Issue.record("no grant")
            return
        }
        #expect(document["scopes"] == [["scope": "openid"], ["scope": "accounts"]])
        #expect(document["authorization_details"] == ConsentCore.balances && document["status"] == "authorised")
        // Another client's grant answers as an unknown one.
        let others = try await flow.managementToken("other", scope: GrantManagementService.queryScope)
        #expect(try await flow.grants.query(grantID: grantID, accessToken: others, scheme: .bearer, certificate: certificate) == .notFound)
        #expect(try await flow.grants.query(grantID: "unknown", accessToken: token, scheme: .bearer, certificate: certificate) == .notFound)
        // The revoke scope does not query; a token bound to another certificate is refused.
        let revokeOnly = try await flow.managementToken("sp", scope: GrantManagementService.revokeScope)
        do {
            _ = try await flow.grants.query(grantID: grantID, accessToken: revokeOnly, scheme: .bearer, certificate: certificate)
            Issue.record("accepted without the query scope")
        } catch {
            guard case .insufficientScope = error else {
                Issue.record("\(error)")
                return
            }
        }
        do {
            _ = try await flow.grants.query(grantID: grantID, accessToken: token, scheme: .bearer, certificate: nil)
            Issue.record("accepted without the bound certificate")
        } catch {
            guard case .invalidToken(let refusal) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(refusal.code == .invalidToken)
        }
    }

    @Test("DELETE /grants/{id}: 204, the consent revoked with its access and refresh tokens; a second DELETE is 404")
    func revoke() async throws {
        let response = try await grant()
        let grantID = try #require(response.grantID)
        let token = try await flow.managementToken("sp", scope: GrantManagementService.revokeScope)
        let certificate = flow.core.certificate(flow.core.credentials.tpp)
        let others = try await flow.managementToken("other", scope: GrantManagementService.revokeScope)
        #expect(try await flow.grants.revoke(grantID: grantID, accessToken: others, scheme: .bearer, certificate: certificate) == .notFound)
        #expect(try await flow.consent(of: "sp").status == .authorised)
        #expect(try await flow.grants.revoke(grantID: grantID, accessToken: token, scheme: .bearer, certificate: certificate) == .revoked)
        #expect(try await flow.consent(of: "sp").status == .revoked)
        #expect(try await flow.introspect(response.accessToken)["active"] == false)
        #expect(
            await failure {
                try await flow.token.token(
                    parameters: ["grant_type": "refresh_token", "refresh_token": try #require(response.refreshToken)],
                    credentials: flow.core.mtls("sp"))
            } == "invalid_grant")
        #expect(try await flow.grants.revoke(grantID: grantID, accessToken: token, scheme: .bearer, certificate: certificate) == .notFound)
    }

    @Test("DELETE of a consumed single payment revokes the access token of its one use")
    func revokeConsumedPayment() async throws {
        let response = try await flow.tokens(ConsentCore.payment, client: "sp")
        let grantID = try #require(response.grantID)
        #expect(try await flow.consent(of: "sp").status == .consumed)
        let token = try await flow.managementToken("sp", scope: GrantManagementService.revokeScope)
        let certificate = flow.core.certificate(flow.core.credentials.tpp)
        #expect(try await flow.grants.revoke(grantID: grantID, accessToken: token, scheme: .bearer, certificate: certificate) == .revoked)
        #expect(try await flow.introspect(response.accessToken)["active"] == false)
        #expect(try await flow.core.auditTypes().last == "consent.revoked")
    }

    @Test("A DPoP-bound management token works only with the DPoP scheme and a proof of its key for the grant's URL")
    func dpopBoundManagementToken() async throws {
        try await flow.core.register(
            "dp", method: .privateKeyJWT, grants: ["client_credentials"],
            ["fapi_profile": "fapi2-security-profile", "response_types": ["code"], "scope": "grant_management_query"])
        let client = try #require(try await flow.core.stores.clients.client(id: "dp"))
        let consent = try await flow.consents.create(
            details: ConsentCore.balances, scope: "accounts", client: client, origin: .resourceServer, certificate: nil, requestHash: nil,
            approvalsRequired: 1)
        let now = flow.core.clock.now()
        _ = try await flow.core.stores.consents.updateConsent(id: consent.id) {
            $0.approved(by: "alice", subject: "alice", acr: nil, amr: [], shownHash: ConsentEvidence.detailsHash(ConsentCore.balances), at: now)
        }
        let key = try DPoPKey()
        let token = try await flow.token.token(
            parameters: ["grant_type": "client_credentials", "scope": GrantManagementService.queryScope],
            credentials: try flow.core.assertion("dp"), proof: try key.request(at: now)
        ).accessToken
        let url = Core.issuer + GrantManagementService.path + "/" + consent.id
        do {
            _ = try await flow.grants.query(grantID: consent.id, accessToken: token, scheme: .bearer, certificate: nil)
            Issue.record("a DPoP-bound token was accepted as a bearer token")
        } catch {
            guard case .invalidToken = error else {
                Issue.record("\(error)")
                return
            }
        }
        let ath = Base64URL.encode(Crypto.sha256(token))
        let proof = try key.request("GET", url, at: now, claims: ["ath": .string(ath)])
        guard case .grant(let document) = try await flow.grants.query(grantID: consent.id, accessToken: token, scheme: .dpop(proof), certificate: nil)
        else {
            Issue.record("no grant")
            return
        }
        #expect(document["authorization_details"] == ConsentCore.balances)
        let otherKey = try DPoPKey()
        let wrong = try otherKey.request("GET", url, at: now, claims: ["ath": .string(ath)])
        do {
            _ = try await flow.grants.query(grantID: consent.id, accessToken: token, scheme: .dpop(wrong), certificate: nil)
            Issue.record("a proof of another key was accepted")
        } catch {
            guard case .invalidToken(let refusal) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(refusal.code == .invalidDPoPProof)
        }
    }
}
