import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// The core services of `Core`, wired with consents as the daemon wires them (`Fapid+Services`): PAR and
/// `/authorize` bind requests to consents, the grants issue under them, introspection and Grant Management read
/// them. Memory storage, fixed clock.
struct ConsentCore {
    let core: Core
    let consents: ConsentService
    let authorization: AuthorizationService
    let pushed: PushedAuthorizationService
    let token: TokenService
    let introspection: IntrospectionService
    let grants: GrantManagementService

    /// A £250.00 payment to ACME Ltd, reference INV-42 (the issue's example).
    static let payment: JSON = [
        [
            "type": "payment_initiation",
            "instructedAmount": ["currency": "GBP", "amount": "250.00"],
            "creditorName": "ACME Ltd",
            "creditorAccount": ["iban": "GB29NWBK60161331926819"],
            "remittanceInformation": ["reference": "INV-42"],
        ]
    ]
    static let balances: JSON = [["type": "account_information", "actions": ["balances"]]]
    static let transactions: JSON = [["type": "account_information", "actions": ["transactions"]]]

    init() async throws {
        core = try await Core()
        let stores = core.stores
        let clock = core.clock
        consents = ConsentService(
            store: stores.consents, clients: stores.clients, policy: AuthorizationDetailsPolicy(clock: clock), clock: clock, entropy: core.entropy)
        let keys = ClientKeyResolver(fetcher: OfflineFetcher(), clock: clock)
        let requestObjects = RequestObjectValidator(keys: keys, replay: stores.tokens, issuer: Core.issuer, clock: clock)
        authorization = AuthorizationService(
            clients: stores.clients, pushed: stores.pushed, codes: stores.codes, validator: requestObjects, idTokens: core.idTokens,
            issuer: Core.issuer, clock: clock, keyRing: core.credentials.keyRing, audit: stores.audit, entropy: core.entropy, consents: consents)
        pushed = PushedAuthorizationService(
            authenticator: core.authenticator, validator: requestObjects, store: stores.pushed, clock: clock, entropy: core.entropy, dpop: core.dpop,
            consents: consents)
        let cibaTokens = CIBATokens(
            codes: stores.codes, tokens: core.tokenIssuer, idTokens: core.idTokens, clock: clock, entropy: core.entropy, consents: consents)
        token = TokenService(
            authenticator: core.authenticator,
            handlers: [
                ClientCredentialsGrant(issuer: core.tokenIssuer),
                AuthorizationCodeGrant(
                    codes: stores.codes, tokens: core.tokenIssuer, idTokens: core.idTokens, clock: clock, entropy: core.entropy, consents: consents),
                RefreshTokenGrant(codes: stores.codes, tokens: core.tokenIssuer, idTokens: core.idTokens, clock: clock, consents: consents),
                CIBAGrant(store: stores.ciba, tokens: cibaTokens, clock: clock),
            ],
            dpop: core.dpop)
        introspection = IntrospectionService(
            tokens: stores.tokens, resourceServers: stores.clients, issuer: Core.issuer, clock: clock, consents: stores.consents)
        grants = GrantManagementService(
            consents: stores.consents, tokens: stores.tokens, resource: UserinfoService(tokens: stores.tokens, clock: clock, dpop: core.dpop),
            clock: clock)
    }

    /// A FAPI 2 SP client ("sp", unsigned PAR allowed) or a FAPI 1 Advanced one, registered for both detail types and
    /// the Grant Management scopes.
    @discardableResult
    func register(_ clientID: String, profile: FAPIProfile = .fapi2SecurityProfile) async throws -> Client {
        var metadata: [String: JSON] = [
            "authorization_details_types": ["payment_initiation", "account_information"],
            "scope": "openid accounts payments grant_management_query grant_management_revoke",
        ]
        if profile != .fapi1Advanced {
            metadata[FAPIProfile.metadataMember] = .string(profile.rawValue)
            metadata["response_types"] = ["code"]
        }
        return try await core.register(clientID, grants: ["authorization_code", "refresh_token", "client_credentials"], metadata)
    }

    /// The unsigned PAR form of a FAPI 2 SP client, `extra` replacing members.
    func form(_ clientID: String, _ extra: [String: String] = [:]) -> [String: String] {
        var form = [
            "client_id": clientID, "response_type": "code", "redirect_uri": Core.redirectURI, "scope": "openid payments", "state": "st-1",
            "nonce": "n-1", "code_challenge": Core.challenge, "code_challenge_method": "S256",
        ]
        form.merge(extra) { $1 }
        return form
    }

    func push(_ parameters: [String: String], client: String) async throws -> String {
        try await pushed.push(parameters: parameters, credentials: core.mtls(client, endpoint: .pushedAuthorization)).requestURI
    }

    func pushDetails(_ details: JSON, client: String, _ extra: [String: String] = [:]) async throws -> String {
        var parameters = form(client, extra)
        parameters["authorization_details"] = String(decoding: details.bytes, as: UTF8.self)
        return try await push(parameters, client: client)
    }

    func begin(_ uri: String, client: String) async throws -> AuthorizationService.Pending {
        try await authorization.begin(parameters: ["client_id": client, "request_uri": uri])
    }

    /// Approves as `alice` with the hash the consent page would carry (or `hash` when given); the redirect's members.
    func approve(_ pending: AuthorizationService.Pending, hash: String? = nil) async throws -> [String: String] {
        let shown = await consents.presentation(for: pending.request)
        return responseMembers(
            try await authorization.approve(pending, subject: "alice", authTime: core.clock.now(), shownDetailsHash: hash ?? shown?.detailsHash))
    }

    func redeem(_ code: String, client: String, _ extra: [String: String] = [:]) async throws -> TokenResponse {
        var parameters = ["grant_type": "authorization_code", "code": code, "redirect_uri": Core.redirectURI, "code_verifier": Core.verifier]
        parameters.merge(extra) { $1 }
        return try await token.token(parameters: parameters, credentials: core.mtls(client))
    }

    /// Push, approve, redeem: the token response.
    func tokens(_ details: JSON, client: String, _ extra: [String: String] = [:]) async throws -> TokenResponse {
        let members = try await approve(try await begin(try await pushDetails(details, client: client, extra), client: client))
        return try await redeem(try #require(members["code"]), client: client)
    }

    /// The only consent of `client`.
    func consent(of client: String) async throws -> Consent {
        let found = try await core.stores.consents.consents(ConsentFilter(clientID: client))
        #expect(found.count == 1)
        return try #require(found.first)
    }

    func introspect(_ token: String) async throws -> [String: JSON] { try await introspection.introspect(token: token) }

    /// A client-credentials access token of `client` for `scope`.
    func managementToken(_ client: String, scope: String) async throws -> String {
        try await token.token(parameters: ["grant_type": "client_credentials", "scope": scope], credentials: core.mtls(client)).accessToken
    }
}

@Suite("Consents in the authorization-code flow (RFC 9396, intents, single payments)")
struct ConsentFlowTests {
    let flow: ConsentCore

    init() async throws {
        flow = try await ConsentCore()
        try await flow.register("sp")
        try await flow.register("other")
        try await flow.register("fapi1", profile: .fapi1Advanced)
    }

    @Test("PAR with authorization_details creates an awaiting consent of the client, origin par, with the request hash")
    func parCreatesConsent() async throws {
        let uri = try await flow.pushDetails(ConsentCore.payment, client: "sp")
        let consent = try await flow.consent(of: "sp")
        #expect(consent.status == .awaitingAuthorisation && consent.origin == .pushedRequest && consent.type == "payment_initiation")
        #expect(consent.authorizationDetails == ConsentCore.payment && consent.approvalsRequired == 1 && consent.subject == nil)
        #expect(consent.certificateThumbprint == flow.core.certificate(flow.core.credentials.tpp).thumbprint)
        let pending = try await flow.begin(uri, client: "sp")
        #expect(pending.request.consentID == consent.id)
        #expect(consent.requestHash?.count == 64)
        #expect(try await flow.core.auditTypes().contains("consent.created"))
    }

    @Test("The customer approves what was shown: the code carries the consent; tokens carry grant_id and the details")
    func approvedPaymentTokens() async throws {
        let response = try await flow.tokens(ConsentCore.payment, client: "sp")
        let consent = try await flow.consent(of: "sp")
        #expect(response.grantID == consent.id && response.authorizationDetails == ConsentCore.payment)
        // A single payment: consumed by its one issuance, and no refresh token goes with it.
        #expect(consent.status == .consumed && consent.subject == "alice" && consent.approvals.map(\.by) == ["alice"])
        #expect(response.refreshToken == nil)
        let record = try #require(try await flow.core.accessToken(response.accessToken))
        #expect(record.grantID == consent.id)
        let introspected = try await flow.introspect(response.accessToken)
        #expect(introspected["active"] == true && introspected["grant_id"]?.stringValue == consent.id)
        #expect(introspected["authorization_details"] == ConsentCore.payment)
    }

    @Test("The payment consent cannot be used twice: naming it as intent after consumption is refused")
    func paymentUsedOnce() async throws {
        _ = try await flow.tokens(ConsentCore.payment, client: "sp")
        let consent = try await flow.consent(of: "sp")
        let claims = #"{"id_token":{"openbanking_intent_id":{"value":"\#(consent.id)","essential":true}}}"#
        #expect(await failure { try await flow.push(flow.form("sp", ["claims": claims]), client: "sp") } == "invalid_request")
    }

    @Test("Two codes racing for one payment consent: only one token issuance consumes it")
    func singleUseRace() async throws {
        let uri = try await flow.pushDetails(ConsentCore.payment, client: "sp")
        let pending = try await flow.begin(uri, client: "sp")
        let code = try #require(try await flow.approve(pending)["code"])
        let consent = try await flow.consent(of: "sp")
        // A second code under the same (now consumed) consent, as a replay would try.
        _ = try await flow.redeem(code, client: "sp")
        let second = "code-2"
        try await flow.core.stores.codes.insertCode(
            AuthorizationCodeRecord(
                codeHash: Crypto.sha256(second), clientID: "sp", subject: "alice", redirectURI: Core.redirectURI, scope: "openid payments",
                codeChallenge: Core.challenge, nonce: nil, authTime: flow.core.clock.now(), acr: nil, claims: nil,
                expiresAt: flow.core.clock.now().addingTimeInterval(60), grantID: consent.id),
            audit: nil)
        #expect(await failure { try await flow.redeem(second, client: "sp") } == "invalid_grant")
    }

    @Test("An approval whose hash is not of what the consent holds is refused (access_denied); the consent stays awaiting")
    func wrongHashRefused() async throws {
        let pending = try await flow.begin(try await flow.pushDetails(ConsentCore.payment, client: "sp"), client: "sp")
        do {
            _ = try await flow.approve(pending, hash: ConsentEvidence.detailsHash(ConsentCore.balances))
            Issue.record("approved with the hash of other details")
        } catch let error as AuthorizationError {
            // The refusal goes back to the client (its redirect URI was verified), with no code.
            guard let redirect = error.redirect else { Issue.record("no redirect"); return }
            let members = responseMembers(redirect)
            #expect(members["error"] == "access_denied" && members["code"] == nil)
        }
        #expect(try await flow.consent(of: "sp").status == .awaitingAuthorisation)
    }

    @Test("The customer's refusal rejects the consent")
    func denialRejects() async throws {
        let pending = try await flow.begin(try await flow.pushDetails(ConsentCore.payment, client: "sp"), client: "sp")
        let members = responseMembers(await flow.authorization.deny(pending, user: "alice"))
        #expect(members["error"] == "access_denied")
        #expect(try await flow.consent(of: "sp").status == .rejected)
    }

    @Test("Malformed details, an unregistered type and a number amount are invalid_authorization_details")
    func badDetails() async throws {
        for text in [#"{"type":"payment_initiation"}"#, #"[{"type":"unknown_type"}]"#, "not json",
                     #"[{"type":"payment_initiation","instructedAmount":{"currency":"GBP","amount":250},"creditorName":"ACME Ltd","creditorAccount":{"iban":"GB29NWBK60161331926819"}}]"#]
        {
            #expect(await failure { try await flow.push(flow.form("sp", ["authorization_details": text]), client: "sp") } == "invalid_authorization_details", "\(text)")
        }
        #expect(try await flow.core.stores.consents.consents(ConsentFilter()).isEmpty)
    }

    @Test("A client cannot name a consent through the server's own member in its request")
    func consentIDNotClientControlled() async throws {
        let uri = try await flow.pushDetails(ConsentCore.payment, client: "other")
        _ = uri
        let victim = try await flow.consent(of: "other")
        let object = try flow.core.requestObject(
            "fapi1", [AuthorizationRequest.consentIDMember: .string(victim.id), "response_type": "code id_token"])
        let mine = try await flow.pushed.push(parameters: ["request": object], credentials: flow.core.mtls("fapi1", endpoint: .pushedAuthorization))
        let pending = try await flow.begin(mine.requestURI, client: "fapi1")
        #expect(pending.request.consentID == nil)
    }

    @Test("An intent from POST /consents is looked up: the client's own works and reaches the ID token; another client's is refused")
    func intentLookup() async throws {
        let intent = try await flow.consents.createIntent(clientID: "sp", details: ConsentCore.payment)
        #expect(intent.origin == .resourceServer && intent.status == .awaitingAuthorisation)
        let claims = #"{"id_token":{"openbanking_intent_id":{"value":"\#(intent.id)","essential":true}}}"#
        #expect(await failure { try await flow.push(flow.form("other", ["claims": claims]), client: "other") } == "invalid_request")
        #expect(await failure { try await flow.push(flow.form("sp", ["claims": #"{"id_token":{"openbanking_intent_id":{"value":"nope"}}}"#]), client: "sp") } == "invalid_request")
        let pending = try await flow.begin(try await flow.push(flow.form("sp", ["claims": claims]), client: "sp"), client: "sp")
        #expect(await flow.consents.presentation(for: pending.request)?.details == ConsentCore.payment)
        let response = try await flow.redeem(try #require(try await flow.approve(pending)["code"]), client: "sp")
        #expect(response.grantID == intent.id)
        let idToken = try flow.core.verifiedClaims(try #require(response.idToken))
        #expect(idToken["openbanking_intent_id"]?.stringValue == intent.id)
        #expect(await failure { try await flow.consents.createIntent(clientID: "nobody", details: ConsentCore.payment) } == "invalid_request")
        #expect(await failure { try await flow.consents.createIntent(clientID: "sp", details: ["x"]) } == "invalid_authorization_details")
    }

    @Test("FAPI 1 Advanced: details in the signed request object at /authorize by value create the consent (origin authorize)")
    func fapi1ByValue() async throws {
        try await flow.core.register(
            "byvalue", grants: ["authorization_code", "refresh_token"],
            ["authorization_details_types": ["account_information"], "require_pushed_authorization_requests": false])
        let object = try flow.core.requestObject("byvalue", ["authorization_details": ConsentCore.balances, "scope": "openid accounts"])
        let pending = try await flow.authorization.begin(parameters: ["client_id": "byvalue", "request": object])
        let consent = try await flow.consent(of: "byvalue")
        #expect(consent.origin == .authorizationRequest && pending.request.consentID == consent.id)
        let members = try await flow.approve(pending)
        let response = try await flow.redeem(try #require(members["code"]), client: "byvalue")
        #expect(response.grantID == consent.id && response.refreshToken != nil)
        // Not a single payment: the refresh grant goes on carrying the consent while it is authorised.
        let refreshed = try await flow.token.token(
            parameters: ["grant_type": "refresh_token", "refresh_token": try #require(response.refreshToken)], credentials: flow.core.mtls("byvalue"))
        #expect(refreshed.grantID == consent.id && refreshed.authorizationDetails == ConsentCore.balances)
    }

    @Test("RFC 9396 §6.2: the token request may ask for a granted detail, not for another")
    func tokenRequestSubset() async throws {
        let pending = try await flow.begin(try await flow.pushDetails(ConsentCore.balances, client: "sp", ["scope": "openid accounts"]), client: "sp")
        let code = try #require(try await flow.approve(pending)["code"])
        let text = String(decoding: ConsentCore.transactions.bytes, as: UTF8.self)
        #expect(await failure { try await flow.redeem(code, client: "sp", ["authorization_details": text]) } == "invalid_authorization_details")
        let pending2 = try await flow.begin(try await flow.pushDetails(ConsentCore.balances, client: "sp", ["scope": "openid accounts"]), client: "sp")
        let code2 = try #require(try await flow.approve(pending2)["code"])
        let same = String(decoding: ConsentCore.balances.bytes, as: UTF8.self)
        #expect(try await flow.redeem(code2, client: "sp", ["authorization_details": same]).authorizationDetails == ConsentCore.balances)
    }

    @Test("Revoking the consent ends its tokens and its refresh; RFC 7009 revocation of a token leaves the consent")
    func revocationReach() async throws {
        let response = try await flow.tokens(ConsentCore.balances, client: "sp", ["scope": "openid accounts"])
        let consent = try await flow.consent(of: "sp")
        let refresh = try #require(response.refreshToken)
        let revocation = RevocationService(
            authenticator: flow.core.authenticator, tokens: flow.core.stores.tokens, refreshTokens: flow.core.stores.codes, clock: flow.core.clock)
        let second = try await flow.token.token(parameters: ["grant_type": "refresh_token", "refresh_token": refresh], credentials: flow.core.mtls("sp"))
        try await revocation.revoke(parameters: ["token": second.accessToken], credentials: flow.core.mtls("sp", endpoint: .revocation))
        #expect(try await flow.consent(of: "sp").status == .authorised)
        _ = try await flow.core.stores.consents.updateConsent(id: consent.id) { $0.revoked(by: "client", at: flow.core.clock.now()) }
        #expect(try await flow.introspect(response.accessToken)["active"] == false)
        #expect(await failure {
            try await flow.token.token(parameters: ["grant_type": "refresh_token", "refresh_token": refresh], credentials: flow.core.mtls("sp"))
        } == "invalid_grant")
    }

    @Test("A request without details, grant_id or intent behaves as before: no consent, no grant_id")
    func plainRequestUnchanged() async throws {
        let pending = try await flow.begin(try await flow.push(flow.form("sp", ["scope": "openid accounts"]), client: "sp"), client: "sp")
        let response = try await flow.redeem(try #require(try await flow.approve(pending)["code"]), client: "sp")
        #expect(response.grantID == nil && response.authorizationDetails == nil && response.refreshToken != nil)
        #expect(try await flow.core.stores.consents.consents(ConsentFilter()).isEmpty)
    }
}
