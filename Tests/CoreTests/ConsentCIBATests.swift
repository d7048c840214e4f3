import AuthorizationServer
import Foundation
import JOSE
import MemoryStorage
import OpenSSLKit
import TestSupport
import Testing

/// RFC 9396 at `/bc-authorize` (CIBA Core §7.1) and dual control at the staff terminal: the consent a CIBA request
/// carries, approved by N distinct staff accounts (`dual_control`), refused on a mistyped amount, a repeated account
/// or changed details, rejected by any one denial; and the customer's own consents at `/account/consents`.
@Suite("Consents in CIBA and at the customer's dashboard")
struct ConsentCIBATests {
    let ciba: CIBAFixture
    let backchannel: BackchannelAuthenticationService
    let decisions: CIBADecisionService
    /// The token endpoint with the CIBA grant issuing under consents (as `Fapid+Services.swift` wires it).
    let token: TokenService

    /// A £250.00 payment to ACME Ltd, above the 100.00 GBP dual-control threshold.
    static let payment: JSON = [[
        "type": "payment_initiation", "instructedAmount": ["currency": "GBP", "amount": "250.00"], "creditorName": "ACME Ltd",
        "creditorAccount": ["iban": "GB29NWBK60161331926819"], "remittanceInformation": "INV-42",
    ]]
    static let smallPayment: JSON = [[
        "type": "payment_initiation", "instructedAmount": ["currency": "GBP", "amount": "20.00"], "creditorName": "Corner Shop",
        "creditorAccount": ["iban": "GB29NWBK60161331926819"],
    ]]

    init() async throws {
        ciba = try await CIBAFixture()
        let core = ciba.core
        try await core.register(
            "rar", grants: [CIBAGrant.grantTypeURN],
            ["backchannel_token_delivery_mode": "poll", "response_types": ["code id_token"], "client_name": "Pay Fast",
             "authorization_details_types": ["payment_initiation", "account_information"]])
        var settings = AuthorizationDetailsSettings()
        settings.dualControl = try DualControlPolicy(
            ["payment_initiation": ["above_amount": ["currency": "GBP", "amount": "100.00"], "approvals_required": 2]],
            knownTypes: Set(AuthorizationDetailsPolicy.builtInTypes))
        let policy = AuthorizationDetailsPolicy(settings: settings, clock: core.clock)
        backchannel = BackchannelAuthenticationService(
            authenticator: core.authenticator, keys: ClientKeyResolver(fetcher: OfflineFetcher(), clock: core.clock), replay: core.stores.tokens,
            users: core.stores.users, store: core.stores.ciba, keyRing: core.credentials.keyRing, issuer: Core.issuer, clock: core.clock,
            entropy: core.entropy, consents: core.stores.consents, details: policy)
        let consents = ConsentService(store: core.stores.consents, clients: core.stores.clients, policy: policy, clock: core.clock, entropy: core.entropy)
        let cibaTokens = CIBATokens(
            codes: core.stores.codes, tokens: core.tokenIssuer, idTokens: core.idTokens, clock: core.clock, entropy: core.entropy, consents: consents)
        token = TokenService(
            authenticator: core.authenticator, handlers: [CIBAGrant(store: core.stores.ciba, tokens: cibaTokens, clock: core.clock)], dpop: core.dpop)
        decisions = CIBADecisionService(store: core.stores.ciba, clients: core.stores.clients, clock: core.clock, consents: core.stores.consents)
    }

    /// A signed request of the `rar` client carrying `details` (a JSON array in the request object, FAPI-CIBA).
    func request(_ details: JSON = Self.payment, _ claims: [String: JSON] = [:]) async throws -> String {
        var members = claims
        members["authorization_details"] = details
        members["scope"] = members["scope"] ?? "openid payments"
        let object = try ciba.signedRequest(members, client: "rar")
        return try await backchannel.request(
            parameters: ["request": object], credentials: ciba.core.mtls("rar", endpoint: .backchannelAuthentication)
        ).authReqID
    }

    func pendingOne() async throws -> CIBADecisionService.PendingRequest { try #require(try await decisions.pending().first) }

    func poll(_ authReqID: String) async throws -> TokenResponse {
        try await token.token(
            parameters: ["grant_type": CIBAGrant.grantTypeURN, "auth_req_id": authReqID], credentials: ciba.core.mtls("rar"))
    }

    func approve(_ pending: CIBADecisionService.PendingRequest, by staff: String, amounts: [String]? = nil) async throws
        -> CIBADecisionService.Decision
    {
        let consent = try #require(pending.consent)
        return try await decisions.decide(
            id: pending.id, approve: true, by: staff, shownHash: consent.detailsHash, typedAmounts: amounts ?? consent.amounts)
    }

    @Test("/bc-authorize with authorization_details creates an awaiting consent for the hinted user, named by the request")
    func consentCreated() async throws {
        _ = try await request()
        let pending = try await pendingOne()
        let summary = try #require(pending.consent)
        let consent = try #require(try await ciba.core.stores.consents.consent(id: summary.id))
        #expect(consent.status == .awaitingAuthorisation)
        #expect(consent.origin == .backchannelRequest)
        #expect(consent.subject == "alice")
        #expect(consent.clientID == "rar")
        #expect(consent.approvalsRequired == 2)
        #expect(consent.authorizationDetails == Self.payment)
        #expect(consent.certificateThumbprint != nil)
        #expect(consent.requestHash?.count == 64)
        #expect((try? Base64URL.decode(consent.id))?.count == 16)
        // The staff terminal's lines are the consent page's: amount with currency, payee, masked account, reference.
        #expect(summary.lines == ConsentDisplay.lines(Self.payment))
        #expect(summary.lines.contains { $0.contains("250.00") && $0.contains("ACME Ltd") })
        #expect(summary.lines.contains { $0.contains("INV-42") })
        #expect(!summary.lines.joined().contains("GB29NWBK60161331926819"))
        #expect(summary.amounts == ["250.00"])
        #expect(summary.detailsHash == ConsentEvidence.detailsHash(Self.payment))
        #expect(summary.approvedBy.isEmpty && summary.approvalsRequired == 2)
        #expect(try await ciba.core.auditTypes() == ["consent.created", "ciba.requested"])
    }

    @Test("bad details are invalid_authorization_details and store nothing; a small payment needs one approval")
    func badDetails() async throws {
        #expect(await failure { try await request([["type": "payment_initiation", "instructedAmount": ["currency": "GBP", "amount": 250]]]) }
            == "invalid_authorization_details")
        #expect(await failure { try await request([["type": "loyalty_points"]]) } == "invalid_authorization_details")
        #expect(await failure { try await request(["type": "payment_initiation"]) } == "invalid_authorization_details")
        // A client that registered no authorization_details_types may send none.
        #expect(await failure {
            try await backchannel.request(
                parameters: ["request": try ciba.signedRequest(["authorization_details": Self.payment], client: "ciba")],
                credentials: ciba.core.mtls("ciba", endpoint: .backchannelAuthentication))
        } == "invalid_authorization_details")
        #expect(try await ciba.core.stores.consents.consents(ConsentFilter()).isEmpty)
        #expect(try await decisions.pending().isEmpty)
        _ = try await request(Self.smallPayment)
        let pending = try await pendingOne()
        #expect(pending.consent?.approvalsRequired == 1)
        #expect(try await approve(pending, by: "staff-1") == .authorised(approvals: 1, required: 1))
    }

    @Test("a client that may send loose parameters sends authorization_details as JSON text; bad text is refused")
    func formParameter() async throws {
        try await ciba.core.register(
            "loose", grants: [CIBAGrant.grantTypeURN],
            ["fapi": false, "backchannel_token_delivery_mode": "poll", "authorization_details_types": ["payment_initiation"]])
        func send(_ details: String) async throws -> String {
            try await backchannel.request(
                parameters: ["scope": "openid payments", "login_hint": "alice", "binding_message": "Pay ACME", "authorization_details": details],
                credentials: ciba.core.mtls("loose", endpoint: .backchannelAuthentication)
            ).authReqID
        }
        #expect(await failure { try await send("not json") } == "invalid_authorization_details")
        #expect(await failure { try await send(#"[{"type":"payment_initiation","type":"payment_initiation"}]"#) } == "invalid_authorization_details")
        #expect(await failure { try await send(String(repeating: " ", count: 9000) + "[]") } == "invalid_authorization_details")
        _ = try await send(String(decoding: Self.payment.bytes, as: UTF8.self))
        let summary = try #require(try await pendingOne().consent)
        #expect(summary.amounts == ["250.00"] && summary.approvalsRequired == 2)
    }

    @Test("a request without authorization_details behaves as before: no consent, one decision")
    func withoutDetails() async throws {
        let authReqID = try await ciba.request().authReqID
        let pending = try await pendingOne()
        #expect(pending.consent == nil)
        #expect(try await decisions.decide(id: pending.id, approve: true, by: "staff-1"))
        #expect(try await ciba.poll(authReqID).accessToken.isEmpty == false)
        #expect(try await ciba.core.stores.consents.consents(ConsentFilter()).isEmpty)
    }

    @Test("dual control 2 of 2: pending after the first approval, the same account refused, approved at the second")
    func twoOfTwo() async throws {
        let authReqID = try await request()
        let first = try await pendingOne()
        #expect(try await approve(first, by: "staff-anna") == .approvalRecorded(approvals: 1, required: 2))
        #expect(await failure { try await poll(authReqID) } == "authorization_pending")
        let again = try await pendingOne()
        #expect(again.consent?.approvedBy == ["staff-anna"])
        #expect(try await approve(again, by: "staff-anna") == .alreadyApprovedBy)
        ciba.core.clock.advance(10)
        #expect(await failure { try await poll(authReqID) } == "authorization_pending")
        #expect(try await approve(again, by: "staff-ben") == .authorised(approvals: 2, required: 2))
        #expect(try await decisions.pending().isEmpty)
        ciba.core.clock.advance(10)
        let tokens = try await poll(authReqID)
        #expect(tokens.grantID == first.consent?.id)
        #expect(tokens.authorizationDetails == Self.payment)
        let firstID = try #require(first.consent?.id)
        let consent = try #require(try await ciba.core.stores.consents.consent(id: firstID))
        // Authorised by the second approval, then consumed by the one issuance a single payment allows.
        #expect(consent.status == .consumed && consent.authorisedAt != nil && consent.decidedBy == "staff-ben")
        #expect(consent.approvals.map(\.by) == ["staff-anna", "staff-ben"])
        #expect(consent.approvals.allSatisfy { $0.detailsHash == ConsentEvidence.detailsHash(Self.payment) })
        // Who decided, audited: each approval under its staff account, then the CIBA decision.
        let rows = try await ciba.core.stores.audit.rows(after: 0).map(\.values)
        let decisions = rows.filter { ["consent.approved", "consent.authorised", "ciba.decided"].contains($0["type"] ?? "") }
        #expect(decisions.map { $0["type"] ?? "" } == ["consent.approved", "consent.authorised", "ciba.decided"])
        #expect(decisions.map { $0["user"] ?? "" } == ["staff-anna", "staff-ben", "staff-ben"])
        let evidence = ConsentEvidence.fields(of: decisions[1]["reason"])
        #expect(evidence["details_sha256"] == ConsentEvidence.detailsHash(Self.payment))
        #expect(evidence["approvals"] == "2/2")
    }

    @Test("a mistyped amount, a missing hash or changed details approve nothing")
    func refusedApprovals() async throws {
        let authReqID = try await request()
        let pending = try await pendingOne()
        let summary = try #require(pending.consent)
        #expect(try await approve(pending, by: "staff-anna", amounts: ["250"]) == .amountMismatch)
        #expect(try await approve(pending, by: "staff-anna", amounts: []) == .amountMismatch)
        #expect(try await decisions.decide(id: pending.id, approve: true, by: "staff-anna") == false)
        #expect(try await decisions.decide(id: pending.id, approve: true, by: "staff-anna", shownHash: nil, typedAmounts: ["250.00"]) == .detailsNotShown)
        let other = ConsentEvidence.detailsHash(Self.smallPayment)
        #expect(try await decisions.decide(id: pending.id, approve: true, by: "staff-anna", shownHash: other, typedAmounts: ["250.00"]) == .detailsChanged)
        let consent = try #require(try await ciba.core.stores.consents.consent(id: summary.id))
        #expect(consent.approvals.isEmpty && consent.status == .awaitingAuthorisation)
        #expect(await failure { try await poll(authReqID) } == "authorization_pending")
        #expect(try await decisions.decide(id: "000000000000000000", approve: true, by: "staff-anna", shownHash: summary.detailsHash, typedAmounts: ["250.00"])
            == .notPending)
    }

    @Test("any one denial rejects the consent and denies the request, even after an approval")
    func oneDenialRejects() async throws {
        let authReqID = try await request()
        let pending = try await pendingOne()
        #expect(try await approve(pending, by: "staff-anna") == .approvalRecorded(approvals: 1, required: 2))
        #expect(try await decisions.decide(id: pending.id, approve: false, by: "staff-ben"))
        #expect(await failure { try await poll(authReqID) } == "access_denied")
        let pendingID = try #require(pending.consent?.id)
        let consent = try #require(try await ciba.core.stores.consents.consent(id: pendingID))
        #expect(consent.status == .rejected && consent.decidedBy == "staff-ben")
        #expect(try await approve(pending, by: "staff-cy") == .decidedEarlier(approved: false))
        let rows = try await ciba.core.stores.audit.rows(after: 0).map(\.values)
        #expect(rows.contains { $0["type"] == "consent.rejected" && $0["user"] == "staff-ben" })
        #expect(rows.contains { $0["type"] == "ciba.decided" && $0["user"] == "staff-ben" && $0["outcome"] == "failure" })
    }

    @Test("two final approvals at once: exactly one authorises; the other is told it was decided")
    func racingApprovals() async throws {
        let authReqID = try await request()
        let pending = try await pendingOne()
        #expect(try await approve(pending, by: "staff-anna") == .approvalRecorded(approvals: 1, required: 2))
        async let ben = approve(pending, by: "staff-ben")
        async let cy = approve(pending, by: "staff-cy")
        let outcomes = try await [ben, cy]
        #expect(outcomes.filter { $0 == .authorised(approvals: 2, required: 2) }.count == 1)
        #expect(outcomes.contains(.decidedEarlier(approved: true)))
        let pendingID = try #require(pending.consent?.id)
        let consent = try #require(try await ciba.core.stores.consents.consent(id: pendingID))
        #expect(consent.approvals.count == 2)
        #expect(try await poll(authReqID).accessToken.isEmpty == false)
        let decided = try await ciba.core.stores.audit.rows(after: 0).filter { $0.values["type"] == "ciba.decided" }
        #expect(decided.count == 1)
    }

    @Test("a consent decided but its request left pending (a crash between) is completed by the next look")
    func heals() async throws {
        let authReqID = try await request()
        let pending = try await pendingOne()
        let summary = try #require(pending.consent)
        let now = ciba.core.clock.now()
        for staff in ["staff-anna", "staff-ben"] {
            _ = try await ciba.core.stores.consents.updateConsent(id: summary.id) {
                $0.approved(by: staff, subject: "alice", acr: nil, amr: [], shownHash: summary.detailsHash, at: now)
            }
        }
        #expect(await failure { try await poll(authReqID) } == "authorization_pending")
        // The staff terminal's next refresh completes it from the consent.
        #expect(try await decisions.pending().isEmpty)
        #expect(try await poll(authReqID).accessToken.isEmpty == false)

        let denied = try await request()
        let second = try await pendingOne()
        let secondID = try #require(second.consent?.id)
        _ = try await ciba.core.stores.consents.updateConsent(id: secondID) { $0.rejected(by: "staff-anna", at: now) }
        // A decision attempt completes it too, following the consent.
        #expect(try await approve(second, by: "staff-ben") == .decidedEarlier(approved: false))
        #expect(await failure { try await poll(denied) } == "access_denied")
    }

    @Test("/account/consents lists only the signed-in customer's consents; another's cannot be withdrawn")
    func accountPage() async throws {
        let core = ciba.core
        try await core.stores.users.insertUser(User(username: "bob", passwordHash: try PasswordHash.make("bob's long passphrase"), createdAt: core.clock.now()))
        let storage = MemoryStorage()
        let interactions = InteractionService(
            authorization: core.authorization, login: LoginService(users: core.stores.users, attempts: storage.signInAttempts, clock: core.clock),
            store: storage.interactions, clients: core.stores.clients, clock: core.clock)
        let accounts = AccountConsentService(interactions: interactions, consents: core.stores.consents, clients: core.stores.clients, clock: core.clock)

        _ = try await request()
        let alices = try #require(try await pendingOne().consent?.id)
        _ = try await request(Self.smallPayment, ["login_hint": "bob"])
        let bobs = try #require(try await decisions.pending().compactMap(\.consent).first { $0.id != alices }?.id)

        await #expect(throws: LoginService.Failure.invalidCredentials) {
            _ = try await accounts.signIn(username: "bob", password: "wrong", address: "192.0.2.1")
        }
        let cookie = try await accounts.signIn(username: "bob", password: "bob's long passphrase", address: "192.0.2.1")
        let session = try #require(await accounts.session(cookie))
        #expect(session.username == "bob")
        #expect(await accounts.session("not-a-session") == nil)

        let listed = try await accounts.consents(of: session)
        #expect(listed.map(\.id) == [bobs])
        #expect(listed.first?.clientName == "Pay Fast")
        #expect(listed.first?.lines == ConsentDisplay.lines(Self.smallPayment))
        #expect(listed.first?.withdrawable == true)

        // Alice's consent answers exactly like an unknown one; a forged form token withdraws nothing.
        #expect(try await accounts.withdraw(id: alices, csrf: session.csrf, session: session) == .unknown)
        #expect(try await accounts.withdraw(id: "no-such-consent", csrf: session.csrf, session: session) == .unknown)
        #expect(try await accounts.withdraw(id: bobs, csrf: "forged", session: session) == .forged)
        #expect(try await core.stores.consents.consent(id: alices)?.status == .awaitingAuthorisation)

        #expect(try await accounts.withdraw(id: bobs, csrf: session.csrf, session: session) == .withdrawn)
        #expect(try await accounts.consents(of: session).map(\.status) == [.revoked])
        #expect(try await accounts.withdraw(id: bobs, csrf: session.csrf, session: session) == .unknown)
        let revoked = try await core.stores.audit.rows(after: 0).map(\.values).filter { $0["type"] == "consent.revoked" }
        #expect(revoked.count == 1)
        #expect(ConsentEvidence.fields(of: revoked.first?["reason"])["by"] == "customer:bob")
        // The withdrawn consent's CIBA request can no longer be approved: the next look denies it.
        #expect(try await decisions.pending().compactMap(\.consent).map(\.id) == [alices])
    }

    @Test("the consent is created by ConsentService.create: certificate status recorded, awaiting no longer than the request, then the detail expiry")
    func oneCreationRule() async throws {
        let now = ciba.core.clock.now()
        _ = try await request()
        let pending = try await pendingOne()
        let id = try #require(pending.consent?.id)
        let created = try #require(try await ciba.core.stores.consents.consent(id: id))
        #expect(created.certificateStatus != nil)
        // Awaiting: bound by the CIBA request's expiry (300 seconds by default).
        #expect(created.expiresAt == now.addingTimeInterval(300))
        #expect(try await approve(pending, by: "staff-1") == .approvalRecorded(approvals: 1, required: 2))
        #expect(try await ciba.core.stores.consents.consent(id: id)?.expiresAt == now.addingTimeInterval(300))
        _ = try await approve(try await pendingOne(), by: "staff-2")
        let authorised = try #require(try await ciba.core.stores.consents.consent(id: id))
        #expect(authorised.status == .authorised)
        #expect(authorised.expiresAt == Consent.expiry(for: Self.payment, createdAt: created.createdAt, default: RefreshTokenRecord.defaultLifetime))
        // A payment needs the payments scope among the request's.
        #expect(await failure { try await request(Self.payment, ["scope": "openid accounts"]) } == "invalid_authorization_details")
    }

}
