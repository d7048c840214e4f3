public import Foundation
public import JOSE
import OpenSSLKit

/// What the customer's consent page shows for a pending authorization request, and the hash its form posts back
/// (`InteractionService.decide(…, shownDetailsHash:)`): the dynamic-linking evidence (PSD2 RTS Art. 5) that the
/// approval is of exactly these details.
public struct ConsentPresentation: Sendable, Equatable {
    /// The consent the approval acts on: the one PAR or `/authorize` created, the intent named, or the grant a
    /// Grant Management `merge`/`replace` updates.
    public let consentID: String
    /// The RFC 9396 details to show (the consent's; for `merge`/`replace`, what this request asks for).
    public let details: JSON
    /// `ConsentEvidence.detailsHash(details)`: the value the consent form carries back.
    public let detailsHash: String
    /// What the approval does: nil for a new consent or an intent, `merge` or `replace` for an existing grant.
    public let action: GrantManagementAction?
}

/// The consent side of the authorization-code, refresh and CIBA grants: creating the consent a request carries
/// (RFC 9396 `authorization_details`, Grant Management `create`), looking up the intent `openbanking_intent_id`
/// names, the approval at the consent page, and the rule under which tokens are issued from a consent.
public struct ConsentService: Sendable {
    public let store: any ConsentStore
    let clients: any ClientStore
    let policy: AuthorizationDetailsPolicy
    let clock: any WallClock
    let entropy: any EntropySource
    let status: (any CertificateStatusPolicy)?
    /// How long a consent lives from its creation (awaiting and, once authorised, granted): 90 days by default.
    let lifetime: TimeInterval

    public init(
        store: any ConsentStore, clients: any ClientStore, policy: AuthorizationDetailsPolicy, clock: any WallClock,
        entropy: any EntropySource = SystemEntropy(),
        status: (any CertificateStatusPolicy)? = nil, lifetime: TimeInterval = RefreshTokenRecord.defaultLifetime
    ) {
        self.store = store
        self.clients = clients
        self.policy = policy
        self.clock = clock
        self.entropy = entropy
        self.status = status
        self.lifetime = lifetime
    }

    /// The type a consent has: the first detail's `type`, or `scope` for a consent of scopes only.
    static func type(of details: JSON) -> String { details.arrayValue?.first?["type"]?.stringValue ?? "scope" }

    /// Whether tokens under these details are for one use only: a `payment_initiation` is a single payment.
    public static func isSingleUse(_ details: JSON) -> Bool {
        (details.arrayValue ?? []).contains { $0["type"]?.stringValue == "payment_initiation" }
    }

    // MARK: - At PAR and /authorize

    /// Binds an accepted authorization request to its consent, at PAR (`origin` par) or at `/authorize` by value
    /// (`authorize`). A request with none of `authorization_details`, `grant_id`, `grant_management_action` or
    /// `openbanking_intent_id` is returned unchanged.
    /// - Grant Management (draft -02 §4.1): `merge`/`replace` need the `grant_id` of an authorised consent of this
    ///   client (`invalid_grant_id` otherwise); the approval updates it. `create` (or no action) makes a new consent.
    /// - `openbanking_intent_id` names an existing consent of this client, awaiting authorisation (`invalid_request`).
    /// - `authorization_details` (RFC 9396 §2, §5) are validated for the client and stored in a new consent.
    public func bind(
        _ request: AuthorizationRequest, client: Client, certificate: ClientCertificate?, origin: Consent.Origin
    ) async throws(OAuthError) -> AuthorizationRequest {
        var request = request
        request.consentID = nil
        if let details = request.authorizationDetails { request.authorizationDetails = try policy.validate(details, client: client) }
        let action = request.grantManagementAction
        switch action {
        case .merge?, .replace?:
            guard let grantID = request.grantID else {
                throw OAuthError(.invalidRequest, "grant_id is required with grant_management_action \(action?.rawValue ?? "")")
            }
            guard request.intentID == nil else { throw OAuthError(.invalidRequest, "openbanking_intent_id cannot be used to update a grant") }
            let found: Consent?
            do { found = try await store.consent(id: grantID) } catch { throw OAuthError(error) }
            guard let grant = found, grant.clientID == client.clientID, grant.status(at: clock.now()) == .authorised else {
                throw OAuthError(.invalidGrantID, "grant_id names no active grant of this client")
            }
            // What the grant would hold once updated (the `updated` transition's rule) is what must pass.
            let details = request.authorizationDetails ?? .array([])
            let outcome = action == .merge ? Consent.merged(grant, details: details, scope: request.scopes) : (details: details, scopes: request.scopes)
            // A single payment is one approval for one use: it is never merged into or replaced, and no payment joins
            // an existing grant (two payments under one approval would dodge dual control, and the grant's refresh
            // tokens would become payment tokens).
            guard !Self.isSingleUse(grant.authorizationDetails), !Self.isSingleUse(outcome.details) else {
                throw OAuthError(.invalidAuthorizationDetails, "a payment cannot be merged into or replace a grant; push a new payment")
            }
            // The grant as updated keeps the bounds every request has (at most 16 details, 8 KiB).
            if !(outcome.details.arrayValue ?? []).isEmpty { _ = try AuthorizationDetailsPolicy.checkShape(outcome.details) }
            try AuthorizationDetailsPolicy.checkScopes(outcome.details, scopes: outcome.scopes)
            try checkBrowserApprovable(outcome.details)
            return request
        case .create?, nil:
            if request.grantID != nil {
                throw OAuthError(.invalidRequest, "grant_id requires grant_management_action merge or replace")
            }
        }
        if let intent = request.intentID {
            guard request.authorizationDetails == nil else {
                throw OAuthError(.invalidRequest, "authorization_details and openbanking_intent_id are exclusive")
            }
            let found: Consent?
            do { found = try await store.consent(id: intent) } catch { throw OAuthError(error) }
            // Another client's intent answers as an unknown one. A CIBA consent is decided by staff at `fapictl ciba`
            // (dual control) only: it is never an intent the browser may approve a second way.
            guard let consent = found, consent.clientID == client.clientID, consent.origin != .backchannelRequest,
                consent.status(at: clock.now()) == .awaitingAuthorisation
            else {
                throw OAuthError(.invalidRequest, "openbanking_intent_id names no consent of this client awaiting authorisation")
            }
            try AuthorizationDetailsPolicy.checkScopes(consent.authorizationDetails, scopes: request.scopes)
            // Dual control: the customer's approval alone cannot authorise it, so it is refused here, before
            // anything is recorded, rather than after the customer approved.
            guard consent.approvalsRequired <= 1 else {
                throw OAuthError(.invalidRequest, "the consent openbanking_intent_id names needs staff approval; use the backchannel flow")
            }
            request.consentID = consent.id
            return request
        }
        guard request.authorizationDetails != nil || action == .create else { return request }
        if let details = request.authorizationDetails {
            try AuthorizationDetailsPolicy.checkScopes(details, scopes: request.scopes)
            try checkBrowserApprovable(details)
        }
        let consent = try await create(
            details: request.authorizationDetails ?? .array([]), scope: request.scopes.joined(separator: " "), client: client, origin: origin,
            certificate: certificate, requestHash: ConsentEvidence.detailsHash(request.json), approvalsRequired: 1)
        request.consentID = consent.id
        return request
    }

    /// Dual control fails closed in the browser flow: it has one approver, the customer, so details the
    /// `dual_control` policy gives more than one approver are refused (`invalid_authorization_details`).
    func checkBrowserApprovable(_ details: JSON) throws(OAuthError) {
        guard policy.approvalsRequired(for: details) <= 1 else {
            throw OAuthError(.invalidAuthorizationDetails, "this payment needs staff approval; use the backchannel flow")
        }
    }

    /// Stores a new consent, `awaiting_authorisation`, with a `consent.created` event: the one creation rule of every
    /// origin (PAR, `/authorize`, `/bc-authorize`, `POST /consents`). `approvalsRequired`: the distinct approvers it
    /// needs (the browser flow has one approver, the customer). `subject`: the customer, when the request names one
    /// (CIBA's hint). Its expiry is `Consent.expiry(for:createdAt:default:)`, cut to `awaitingUntil` when given (a
    /// CIBA consent awaits no longer than its request; `authorisedExpiry(of:)` is its expiry once authorised).
    public func create(
        details: JSON, scope: String, client: Client, origin: Consent.Origin, certificate: ClientCertificate?, requestHash: String?,
        approvalsRequired: Int, subject: String? = nil, awaitingUntil: Date? = nil
    ) async throws(OAuthError) -> Consent {
        let now = clock.now()
        let type = Self.type(of: details)
        var expiresAt = Consent.expiry(for: details, createdAt: now, default: lifetime)
        if let awaitingUntil { expiresAt = min(expiresAt, awaitingUntil) }
        let consent = Consent(
            id: entropy.consentIdentifier(), clientID: client.clientID, subject: subject, type: type, authorizationDetails: details, scope: scope,
            status: .awaitingAuthorisation, origin: origin, createdAt: now, expiresAt: expiresAt,
            approvalsRequired: max(1, approvalsRequired), certificateThumbprint: certificate?.thumbprint,
            certificateStatus: certificate.map { certificateStatus($0) }, requestHash: requestHash)
        let audit = AuditEvent(
            .consentCreated, at: now, clientID: client.clientID, user: subject, certificateThumbprint: certificate?.thumbprint,
            reason: ConsentEvidence.reason(
                consentID: consent.id,
                [
                    "type": type, "origin": origin.rawValue, "details_sha256": ConsentEvidence.detailsHash(details), "request_sha256": requestHash,
                    "x5t": certificate?.thumbprint, "approvals_required": String(consent.approvalsRequired),
                ]),
            interactionID: AuditContext.current?.interactionID, source: AuditContext.current?.source)
        do { try await store.insertConsent(consent, audit: audit) } catch { throw OAuthError(error) }
        return consent
    }

    /// What the revocation check knew of the certificate when the consent was requested: the certificate was
    /// accepted at client authentication (its status check passed or was not configured), and whether it is known
    /// revoked now.
    func certificateStatus(_ certificate: ClientCertificate) -> String {
        guard let status else { return certificate.isChainVerified ? "chain_verified status_not_configured" : "self_signed" }
        if status.isRevoked(thumbprint: certificate.thumbprint) { return "revoked" }
        // The OCSP/CRL answer the certificate was accepted on at this request's client authentication.
        return status.lastAnswer(thumbprint: certificate.thumbprint) ?? "accepted not_known_revoked"
    }

    /// A resource server's `POST /consents`: an intent for `clientID` with `details` (validated against that client,
    /// RFC 9396 §5), awaiting authorisation; the approvals it needs come from the dual-control policy.
    public func createIntent(clientID: String?, details: JSON?) async throws(OAuthError) -> Consent {
        guard let clientID, !clientID.isEmpty else { throw OAuthError(.invalidRequest, "client_id is required") }
        guard let details else { throw OAuthError(.invalidRequest, "authorization_details is required") }
        let found: Client?
        do { found = try await clients.client(id: clientID) } catch { throw OAuthError(error) }
        guard let client = found else { throw OAuthError(.invalidRequest, "unknown client") }
        let validated = try policy.validate(details, client: client)
        // No scope in the request: the client's registered scope (limited by its software roles) must cover them.
        try AuthorizationDetailsPolicy.checkScopes(validated, scopes: client.scopes)
        return try await create(
            details: validated, scope: "", client: client, origin: .resourceServer, certificate: nil,
            requestHash: ConsentEvidence.detailsHash(.object(["client_id": .string(clientID), "authorization_details": validated])),
            approvalsRequired: policy.approvalsRequired(for: validated))
    }

    // MARK: - The consent page

    /// What the consent page shows for `request` (nil: a request without a consent, shown as its scopes).
    public func presentation(for request: AuthorizationRequest) async -> ConsentPresentation? {
        if let action = request.grantManagementAction, action != .create, let grantID = request.grantID {
            let details = request.authorizationDetails ?? .array([])
            return ConsentPresentation(consentID: grantID, details: details, detailsHash: ConsentEvidence.detailsHash(details), action: action)
        }
        guard let id = request.consentID, let consent = try? await store.consent(id: id) else { return nil }
        return ConsentPresentation(
            consentID: id, details: consent.authorizationDetails, detailsHash: ConsentEvidence.detailsHash(consent.authorizationDetails), action: nil)
    }

    /// Why an approval at the consent page failed.
    public enum ApprovalFailure: Error, Sendable, Equatable {
        /// The form carried no hash, or not the hash of what the consent now holds.
        case detailsChanged
        /// The consent is no longer awaiting (decided, revoked, expired) or the grant no longer authorised.
        case notAwaiting
        /// Another customer's consent or grant, or another client's.
        case notYours
        case unavailable
    }

    /// The customer approves the consent of `request`, having been shown the details whose hash is `shownHash`:
    /// the consent (or, for Grant Management `merge`/`replace`, the grant as updated). Nil for a request without one.
    public func approve(
        _ request: AuthorizationRequest, client: Client, username: String, acr: String?, amr: [String], shownHash: String?
    ) async throws(ApprovalFailure) -> Consent? {
        let now = clock.now()
        let clientID = client.clientID
        let outcome: ConsentOutcome?
        if let action = request.grantManagementAction, action != .create, let grantID = request.grantID {
            guard let shownHash else { throw .detailsChanged }
            let details = request.authorizationDetails ?? .array([])
            let scope = request.scopes.joined(separator: " ")
            do {
                outcome = try await store.updateConsent(id: grantID) { grant in
                    grant.updated(
                        action, details: details, scope: scope, client: clientID, subject: username, acr: acr, amr: amr, shownHash: shownHash, at: now
                    )
                }
            } catch { throw .unavailable }
        } else if let id = request.consentID {
            guard let shownHash else { throw .detailsChanged }
            do {
                outcome = try await store.updateConsent(id: id) { consent in
                    guard consent.clientID == clientID else { return StoredTransition(.notYours) }
                    return consent.approved(by: username, subject: username, acr: acr, amr: amr, shownHash: shownHash, at: now)
                }
            } catch { throw .unavailable }
        } else {
            return nil
        }
        switch outcome {
        case .done(let consent)?: return consent
        case .detailsChanged?: throw .detailsChanged
        case .notYours?: throw .notYours
        // The browser flow has one approver: a consent still awaiting others is not granted to this client yet.
        case .approvalRecorded?, .alreadyApprovedBy?, .wrongStatus?, nil: throw .notAwaiting
        }
    }

    /// The customer refused the consent page: an awaiting consent is rejected (a grant being updated stays as it was).
    public func reject(_ request: AuthorizationRequest, client: Client, username: String) async {
        guard request.grantManagementAction == nil || request.grantManagementAction == .create, let id = request.consentID else { return }
        let now = clock.now()
        let clientID = client.clientID
        _ = try? await store.updateConsent(id: id) { consent in
            guard consent.clientID == clientID else { return StoredTransition(ConsentOutcome.notYours) }
            return consent.rejected(by: username, at: now)
        }
    }

    // MARK: - At the token endpoint

    /// What tokens issued under a consent carry.
    public struct Granted: Sendable {
        public let consent: Consent
        /// The details of these tokens: the consent's, or the subset the token request asked for (RFC 9396 §6.2).
        public let details: JSON
        /// A single payment: its consent was consumed by this issuance, and no refresh token goes with it.
        public let singleUse: Bool
    }

    /// The rule of every grant that issues tokens under consent `id`: it is this client's and authorised
    /// (`invalid_grant` otherwise: revoked, rejected, expired, or already consumed); `requested` (the token request's
    /// `authorization_details`, RFC 9396 §6.2) may only name details it granted (`invalid_authorization_details`).
    /// A single payment is consumed here, on the locked row, so of two redemptions one gets tokens.
    public func grant(id: String, client: Client, requested: String?) async throws(OAuthError) -> Granted {
        let now = clock.now()
        let found: Consent?
        do { found = try await store.consent(id: id) } catch { throw OAuthError(error) }
        guard let consent = found, consent.clientID == client.clientID else {
            throw OAuthError(.invalidGrant, "the consent of this grant is unknown")
        }
        guard consent.status(at: now) == .authorised else {
            throw OAuthError(.invalidGrant, "the consent of this grant is \(consent.status(at: now).rawValue)")
        }
        let details = try Self.narrowed(consent.authorizationDetails, requested: requested)
        guard Self.isSingleUse(consent.authorizationDetails) else { return Granted(consent: consent, details: details, singleUse: false) }
        let clientID = client.clientID
        let outcome: ConsentOutcome?
        do { outcome = try await store.updateConsent(id: id) { $0.consumed(by: clientID, at: now) } } catch { throw OAuthError(error) }
        guard case .done(let consumed)? = outcome else { throw OAuthError(.invalidGrant, "the single payment consent was already used") }
        return Granted(consent: consumed, details: details, singleUse: true)
    }

    /// `grant(id:…)` for a grant that may have a consent: nil without one. A consent id with no consent service
    /// configured is refused rather than issued without its rule.
    static func granted(_ id: String?, _ consents: ConsentService?, client: Client, requested: String?) async throws(OAuthError) -> Granted? {
        guard let id else {
            if requested != nil { throw OAuthError(.invalidAuthorizationDetails, "no authorization_details were granted") }
            return nil
        }
        guard let consents else { throw OAuthError.server("a grant under a consent without the consent service") }
        return try await consents.grant(id: id, client: client, requested: requested)
    }

    /// RFC 9396 §6.2: the token request's `authorization_details` (JSON text) must each equal a granted detail.
    static func narrowed(_ granted: JSON, requested: String?) throws(OAuthError) -> JSON {
        guard let requested else { return granted }
        let parsed = try AuthorizationDetailsPolicy.parse(text: requested)
        let entries = try AuthorizationDetailsPolicy.checkShape(parsed)
        let grantedForms = Set((granted.arrayValue ?? []).map { $0.canonicalBytes })
        guard entries.allSatisfy({ grantedForms.contains($0.canonicalBytes) }) else {
            throw OAuthError(.invalidAuthorizationDetails, "authorization_details asks for more than was granted")
        }
        return parsed
    }
}
