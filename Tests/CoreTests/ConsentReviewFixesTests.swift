import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// The review findings of issue 19, each on memory storage with the fixed clock: details need their scope, one
/// payment per request, the intent id is a string and the ID token's comes from the consent, one expiry rule, dual
/// control fails closed in the browser flow, a refresh follows the grant's scope, one consent-ended rule, one set of
/// bounds, and another customer's grant is invalid_grant_id.
@Suite("Consent review fixes (issue 19)")
struct ConsentReviewFixesTests {
    let flow: ConsentCore

    init() async throws {
        flow = try await ConsentCore()
        try await flow.register("sp")
    }

    /// A consent service over the same stores whose policy gives a payment above 100.00 GBP two approvers.
    func dualControlService() throws -> ConsentService {
        var settings = AuthorizationDetailsSettings()
        settings.dualControl = try DualControlPolicy(
            ["payment_initiation": ["above_amount": ["currency": "GBP", "amount": "100.00"], "approvals_required": 2]],
            knownTypes: Set(AuthorizationDetailsPolicy.builtInTypes))
        let core = flow.core
        return ConsentService(
            store: core.stores.consents, clients: core.stores.clients, policy: AuthorizationDetailsPolicy(settings: settings, clock: core.clock),
            clock: core.clock, entropy: core.entropy)
    }

    /// An authorization request of "sp" as a client sends it, `extra` added.
    func request(_ extra: [String: JSON]) throws(OAuthError) -> AuthorizationRequest {
        var members: [String: JSON] = [
            "client_id": "sp", "response_type": "code", "redirect_uri": .string(Core.redirectURI), "scope": "openid payments", "state": "st-1",
            "nonce": "n-1", "code_challenge": .string(Core.challenge), "code_challenge_method": "S256",
        ]
        members.merge(extra) { $1 }
        return try AuthorizationRequest(clientJSON: .object(members))
    }

    func client(_ id: String = "sp") async throws -> Client { try #require(try await flow.core.stores.clients.client(id: id)) }

    @Test("1: a payment needs the payments scope and account data the accounts scope, at PAR, at POST /consents and at registration")
    func detailsNeedTheirScope() async throws {
        #expect(
            await failure { try await flow.pushDetails(ConsentCore.payment, client: "sp", ["scope": "openid accounts"]) }
                == "invalid_authorization_details")
        #expect(
            await failure { try await flow.pushDetails(ConsentCore.balances, client: "sp", ["scope": "openid payments"]) }
                == "invalid_authorization_details")
        #expect(try await flow.core.stores.consents.consents(ConsentFilter()).isEmpty)
        // POST /consents names no scope: the client's registered scope decides.
        try await flow.core.register(
            "ais-only", grants: ["authorization_code"], ["scope": "openid accounts", "authorization_details_types": ["payment_initiation", "account_information"]])
        #expect(await failure { try await flow.consents.createIntent(clientID: "ais-only", details: ConsentCore.payment) } == "invalid_authorization_details")
        #expect(try await flow.consents.createIntent(clientID: "ais-only", details: ConsentCore.balances).status == .awaitingAuthorisation)
        do {
            try AuthorizationDetailsPolicy.checkScopes(ConsentCore.payment, scopes: ["openid", "accounts"])
            Issue.record("a payment without the payments scope was accepted")
        } catch {
            #expect(error.code == .invalidAuthorizationDetails && error.description.contains("payments scope"))
        }
        // Registration: a built-in type whose scope the client's scope lacks is invalid client metadata.
        let stores = try CoreFixture.stores()
        let administration = AdministrationService(
            clients: stores.clients, resourceServers: stores.clients, clock: FixedClock(), authorizationDetailsTypes: AuthorizationDetailsPolicy.builtInTypes)
        let metadata: [String: JSON] = [
            "tls_client_auth_subject_dn": "CN=tpp,C=GB", "redirect_uris": ["https://tpp.example/cb"], "scope": "openid accounts",
            "authorization_details_types": ["payment_initiation"],
        ]
        do {
            _ = try await administration.addClient(metadata: metadata, by: "ops")
            Issue.record("a payment type without the payments scope was registered")
        } catch {
            guard case .invalidMetadata(let metadataError) = error else { Issue.record("\(error)"); return }
            #expect(metadataError.field == "authorization_details_types")
        }
        var fitting = metadata
        fitting["authorization_details_types"] = ["account_information"]
        #expect(try await administration.addClient(metadata: fitting, by: "ops").authorizationDetailsTypes == ["account_information"])
    }

    @Test("2: at most one payment_initiation per request; one payment with account data is fine")
    func onePaymentPerRequest() async throws {
        let payment = try #require(ConsentCore.payment.arrayValue?.first)
        var second = try #require(payment.objectValue)
        second["instructedAmount"] = ["currency": "GBP", "amount": "90.00"]
        let split: JSON = [payment, .object(second)]
        #expect(await failure { try await flow.pushDetails(split, client: "sp") } == "invalid_authorization_details")
        let mixed: JSON = .array([payment] + (ConsentCore.balances.arrayValue ?? []))
        _ = try await flow.pushDetails(mixed, client: "sp", ["scope": "openid accounts payments"])
        #expect(try await flow.consent(of: "sp").authorizationDetails == mixed)
    }

    @Test("3: openbanking_intent_id must be a string, the same in id_token and userinfo; the ID token's is the bound consent's id")
    func intentIDIsTheConsent() async throws {
        #expect(
            await failure { try await flow.push(flow.form("sp", ["claims": #"{"id_token":{"openbanking_intent_id":{"value":7}}}"#]), client: "sp") }
                == "invalid_request")
        #expect(
            await failure {
                try await flow.push(
                    flow.form("sp", ["claims": #"{"userinfo":{"openbanking_intent_id":{"value":{"a":1}}}}"#]), client: "sp")
            } == "invalid_request")
        let intent = try await flow.consents.createIntent(clientID: "sp", details: ConsentCore.payment)
        let twoValues = #"{"id_token":{"openbanking_intent_id":{"value":"\#(intent.id)"}},"userinfo":{"openbanking_intent_id":{"value":"x"}}}"#
        #expect(await failure { try await flow.push(flow.form("sp", ["claims": twoValues]), client: "sp") } == "invalid_request")
        // Named in userinfo only: the ID token still says which consent was bound, from the consent, not from claims.
        let claims = #"{"userinfo":{"openbanking_intent_id":{"value":"\#(intent.id)"}}}"#
        let pending = try await flow.begin(try await flow.push(flow.form("sp", ["claims": claims]), client: "sp"), client: "sp")
        let response = try await flow.redeem(try #require(try await flow.approve(pending)["code"]), client: "sp")
        #expect(try flow.core.verifiedClaims(try #require(response.idToken))["openbanking_intent_id"]?.stringValue == intent.id)
        // A request bound to no intent gets no openbanking_intent_id.
        let plain = try await flow.tokens(ConsentCore.payment, client: "sp")
        #expect(try flow.core.verifiedClaims(try #require(plain.idToken))["openbanking_intent_id"] == nil)
    }

    @Test("4: a consent expires at the earliest expirationDateTime of its details (fractional seconds too), else after the default lifetime")
    func expiryFromDetails() async throws {
        let now = flow.core.clock.now()
        let expiring: JSON = [
            ["type": "account_information", "actions": ["balances"], "expirationDateTime": "2027-03-01T00:00:00.250Z"],
            ["type": "account_information", "actions": ["transactions"], "expirationDateTime": "2027-04-01T00:00:00Z"],
        ]
        _ = try await flow.pushDetails(expiring, client: "sp", ["scope": "openid accounts"])
        let consent = try await flow.consent(of: "sp")
        #expect(consent.expiresAt == AccountInformationDetail.parseDateTime("2027-03-01T00:00:00.250Z"))
        let whole = try #require(AccountInformationDetail.parseDateTime("2027-03-01T00:00:00Z"))
        #expect(consent.expiresAt.timeIntervalSince1970 == whole.timeIntervalSince1970 + 0.25)
        #expect(Consent.expiry(for: ConsentCore.payment, createdAt: now, default: 3600) == now.addingTimeInterval(3600))
        let intent = try await flow.consents.createIntent(clientID: "sp", details: ConsentCore.payment)
        #expect(intent.expiresAt == now.addingTimeInterval(RefreshTokenRecord.defaultLifetime))
    }

    @Test("6: details needing two approvers are refused in the browser flow, new or merged; such an intent is refused before anything is written")
    func dualControlFailsClosed() async throws {
        let dual = try dualControlService()
        let sp = try await client()
        #expect(
            await failure { try await dual.bind(try request(["authorization_details": ConsentCore.payment]), client: sp, certificate: nil, origin: .pushedRequest) }
                == "invalid_authorization_details")
        // Below the threshold one approver suffices.
        let small: JSON = [["type": "payment_initiation", "instructedAmount": ["currency": "GBP", "amount": "20.00"], "creditorName": "Shop",
                            "creditorAccount": ["iban": "GB29NWBK60161331926819"]]]
        #expect(try await dual.bind(try request(["authorization_details": small]), client: sp, certificate: nil, origin: .pushedRequest).consentID != nil)
        // merge: the grant as merged is judged.
        let grantID = try #require(
            try await flow.tokens(ConsentCore.balances, client: "sp", ["scope": "openid accounts", "grant_management_action": "create"]).grantID)
        let merge = try request([
            "scope": "openid payments", "authorization_details": ConsentCore.payment, "grant_management_action": "merge", "grant_id": .string(grantID),
        ])
        #expect(await failure { try await dual.bind(merge, client: sp, certificate: nil, origin: .pushedRequest) } == "invalid_authorization_details")
        // An intent needing staff: refused at bind, the consent untouched, nothing audited.
        let intent = try await dual.createIntent(clientID: "sp", details: ConsentCore.payment)
        #expect(intent.approvalsRequired == 2)
        let audited = try await flow.core.auditTypes()
        let named = try request(["claims": ["id_token": ["openbanking_intent_id": ["value": .string(intent.id)]]]])
        #expect(await failure { try await dual.bind(named, client: sp, certificate: nil, origin: .pushedRequest) } == "invalid_request")
        #expect(try await flow.core.stores.consents.consent(id: intent.id) == intent)
        #expect(try await flow.core.auditTypes() == audited)
    }

    @Test("7: after a Grant Management replace, the old refresh token refreshes only the scopes the grant holds now")
    func refreshFollowsTheGrant() async throws {
        let first = try await flow.tokens(
            ConsentCore.balances, client: "sp", ["scope": "openid accounts payments", "grant_management_action": "create"])
        let grantID = try #require(first.grantID)
        let refreshToken = try #require(first.refreshToken)
        let uri = try await flow.pushDetails(
            ConsentCore.transactions, client: "sp", ["scope": "openid accounts", "grant_management_action": "replace", "grant_id": grantID])
        _ = try await flow.redeem(try #require(try await flow.approve(try await flow.begin(uri, client: "sp"))["code"]), client: "sp")
        func refresh(_ extra: [String: String] = [:]) async throws -> TokenResponse {
            var parameters = ["grant_type": "refresh_token", "refresh_token": refreshToken]
            parameters.merge(extra) { $1 }
            return try await flow.token.token(parameters: parameters, credentials: flow.core.mtls("sp"))
        }
        let refreshed = try await refresh()
        #expect(refreshed.scope == "openid accounts")
        #expect(refreshed.authorizationDetails == ConsentCore.transactions)
        #expect(await failure { try await refresh(["scope": "payments"]) } == "invalid_scope")
    }

    @Test("8: one consent-ended rule: revoked, rejected and expired end tokens at storage and at introspection; the others do not")
    func oneEndedRule() {
        let ending = Set(Consent.Status.allCases.filter(\.endsTokens))
        #expect(ending == [.revoked, .rejected, .expired])
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        for status in Consent.Status.allCases {
            #expect(TokenOrigin.grantWithdrawn(status: status, expiresAt: now.addingTimeInterval(60), at: now) == status.endsTokens)
        }
        // An authorised consent past its expiry reads expired, and so ends its tokens.
        #expect(TokenOrigin.grantWithdrawn(status: .authorised, expiresAt: now, at: now))
    }

    @Test("9: the request parser and the policy share one set of bounds")
    func oneSetOfBounds() throws {
        let entry: JSON = ["type": "account_information", "actions": ["balances"]]
        let tooMany = JSON.array(Array(repeating: entry, count: AuthorizationDetailsPolicy.maximumDetails + 1))
        #expect(throws: OAuthError.self) { _ = try AuthorizationDetailsPolicy.checkShape(tooMany) }
        do throws(OAuthError) {
            _ = try request(["authorization_details": tooMany])
            Issue.record("17 details were parsed")
        } catch {
            #expect(error.code == .invalidAuthorizationDetails && error.description.contains("at most 16"))
        }
        do throws(OAuthError) {
            _ = try request(["authorization_details": ["not an object"]])
            Issue.record("a detail that is not an object was parsed")
        } catch {
            #expect(error.code == .invalidAuthorizationDetails)
        }
        let most = JSON.array(Array(repeating: entry, count: AuthorizationDetailsPolicy.maximumDetails))
        #expect(try request(["authorization_details": most]).authorizationDetails == most)
    }

    @Test("10: merge or replace of another customer's grant is invalid_grant_id at approval, and the grant stays as it was")
    func anotherCustomersGrant() async throws {
        let grantID = try #require(
            try await flow.tokens(ConsentCore.balances, client: "sp", ["scope": "openid accounts", "grant_management_action": "create"]).grantID)
        let before = try await flow.consent(of: "sp")
        let uri = try await flow.pushDetails(
            ConsentCore.transactions, client: "sp", ["scope": "openid accounts", "grant_management_action": "merge", "grant_id": grantID])
        let pending = try await flow.begin(uri, client: "sp")
        let shown = await flow.consents.presentation(for: pending.request)
        #expect(
            await failure {
                try await flow.authorization.approve(pending, subject: "bob", authTime: flow.core.clock.now(), shownDetailsHash: shown?.detailsHash)
            } == "invalid_grant_id")
        #expect(try await flow.consent(of: "sp") == before)
    }
}
