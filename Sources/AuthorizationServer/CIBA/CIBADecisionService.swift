public import Foundation
import JOSE

/// The bank staff's side of CIBA (CIBA Core §7.3: the authentication device is the staff terminal): which
/// backchannel requests await a decision, and recording one under the staff member's name. Who the staff
/// member is comes from the caller (the admin socket reads it from the kernel), never from the request.
///
/// A request carrying `authorization_details` has a consent (`CIBARequest.grantID`): the staff see its details in
/// plain words (`ConsentDisplay.lines`), approve the details whose hash they were shown, type each payment amount
/// back, and under dual control (`dual_control`) the request stays pending until `approvalsRequired` distinct
/// accounts have approved; any one denial rejects the consent and denies the request.
///
/// Order and recovery: the consent's row decides first (its lock serialises concurrent staff: of two final approvals
/// exactly one authorises it, the other finds it authorised), then the CIBA request follows the consent. A crash
/// between the two leaves a decided consent beside a pending request; every later look at the request (the
/// pending list, any decision attempt, `settle`) completes it from the consent, never the other way round.
public struct CIBADecisionService: Sendable {
    /// A pending request as the staff terminal shows it: never the secret `auth_req_id`.
    public struct PendingRequest: Sendable, Equatable {
        /// The internal id the staff decide by.
        public let id: String
        public let clientID: String
        /// The client's registered name, when it has one (it may have been removed meanwhile).
        public let clientName: String?
        /// The client's organisation (`org_name`, else `org_id`), when registered.
        public let organisation: String?
        public let user: String
        public let scope: String
        public let bindingMessage: String?
        public let expiresAt: Date
        /// The consent the request asks for, when it carries `authorization_details`.
        public let consent: ConsentSummary?

        public init(
            id: String, clientID: String, clientName: String?, organisation: String?, user: String, scope: String, bindingMessage: String?,
            expiresAt: Date, consent: ConsentSummary? = nil
        ) {
            self.id = id
            self.clientID = clientID
            self.clientName = clientName
            self.organisation = organisation
            self.user = user
            self.scope = scope
            self.bindingMessage = bindingMessage
            self.expiresAt = expiresAt
            self.consent = consent
        }
    }

    /// What the staff member is shown of a request's consent, and what they send back with their decision.
    public struct ConsentSummary: Sendable, Equatable {
        public let id: String
        /// The details in plain words (`ConsentDisplay.lines`), not escaped: the terminal escapes them.
        public let lines: [String]
        /// Each payment's amount exactly as shown (`ConsentDisplay.paymentAmounts`), to be typed back.
        public let amounts: [String]
        /// `ConsentEvidence.detailsHash` of the details these lines were made from, echoed back with the decision.
        public let detailsHash: String
        /// The accounts that have approved so far, in order.
        public let approvedBy: [String]
        public let approvalsRequired: Int

        public init(id: String, lines: [String], amounts: [String], detailsHash: String, approvedBy: [String], approvalsRequired: Int) {
            self.id = id
            self.lines = lines
            self.amounts = amounts
            self.detailsHash = detailsHash
            self.approvedBy = approvedBy
            self.approvalsRequired = approvalsRequired
        }

        public init(_ consent: Consent) {
            self.init(
                id: consent.id, lines: ConsentDisplay.lines(consent.authorizationDetails), amounts: ConsentDisplay.paymentAmounts(consent.authorizationDetails),
                detailsHash: ConsentEvidence.detailsHash(consent.authorizationDetails), approvedBy: consent.approvals.map(\.by),
                approvalsRequired: consent.approvalsRequired)
        }
    }

    /// What one staff decision came to.
    public enum Decision: Sendable, Equatable {
        /// The CIBA request is decided: approved (the last approval needed) or denied.
        case decided(approved: Bool)
        /// The last approval the consent needed: the consent is authorised and the request approved.
        case authorised(approvals: Int, required: Int)
        /// One approval of several was recorded; the request stays pending (polls answer `authorization_pending`).
        case approvalRecorded(approvals: Int, required: Int)
        /// This account approved the consent already: dual control needs another account.
        case alreadyApprovedBy
        /// The consent's details are not those the staff member was shown.
        case detailsChanged
        /// The consent's details were not shown (no hash came back with the approval).
        case detailsNotShown
        /// A typed payment amount is not the amount shown.
        case amountMismatch
        /// Others decided the consent before this decision: the request now follows that outcome.
        case decidedEarlier(approved: Bool)
        /// No pending, unexpired request has this id.
        case notPending
    }

    let store: any CIBAStore
    let clients: any ClientStore
    let consents: (any ConsentStore)?
    let clock: any WallClock
    /// The lifetime of an authorised consent whose details name no `expirationDateTime` (`ConsentService`'s).
    let consentLifetime: TimeInterval

    public init(
        store: any CIBAStore, clients: any ClientStore, clock: any WallClock, consents: (any ConsentStore)? = nil,
        consentLifetime: TimeInterval = RefreshTokenRecord.defaultLifetime
    ) {
        self.consentLifetime = consentLifetime
        self.store = store
        self.clients = clients
        self.clock = clock
        self.consents = consents
    }

    /// Pending, unexpired requests, oldest first, each with its client's name and organisation and its consent.
    /// A request whose consent was decided already (a crash between the two writes) is completed here, not listed.
    public func pending() async throws(StorageError) -> [PendingRequest] {
        var rows: [PendingRequest] = []
        for request in try await store.pendingCIBARequests(now: clock.now()) {
            var summary: ConsentSummary?
            if let grantID = request.grantID {
                guard let consents, let consent = try await consents.consent(id: grantID) else { continue }
                guard consent.status(at: clock.now()) == .awaitingAuthorisation else {
                    _ = try await settle(request, consent: consent)
                    continue
                }
                summary = ConsentSummary(consent)
            }
            let client = try? await clients.client(id: request.clientID)
            rows.append(
                PendingRequest(
                    id: request.id, clientID: request.clientID, clientName: client?.name,
                    organisation: (client?.metadata["org_name"] ?? client?.metadata["org_id"])?.stringValue, user: request.username,
                    scope: request.scope, bindingMessage: request.bindingMessage, expiresAt: request.expiresAt, consent: summary))
        }
        return rows
    }

    /// Records `staff`'s decision on the pending, unexpired request `id` without a consent (with its `ciba.decided`
    /// audit event, in the store's transaction); false when there is no such request, or it has a consent (whose
    /// details must be shown: `decide(id:approve:by:shownHash:typedAmounts:)`).
    public func decide(id: String, approve: Bool, by staff: String) async throws(StorageError) -> Bool {
        try await decide(id: id, approve: approve, by: staff, shownHash: nil, typedAmounts: []) == .decided(approved: approve)
    }

    /// Records `staff`'s decision on the pending, unexpired request `id`. For a request with a consent, an approval
    /// names the hash of the details shown (`ConsentSummary.detailsHash`) and the payment amounts as typed, in the
    /// order shown; it counts as one approval of `approvalsRequired` by a distinct account (`consent.approved`), and
    /// the request is approved at the last one. A denial rejects the consent and denies the request.
    public func decide(id: String, approve: Bool, by staff: String, shownHash: String?, typedAmounts: [String]) async throws(StorageError)
        -> Decision
    {
        let now = clock.now()
        guard let request = try await store.updateCIBARequest(id: id, { StoredTransition($0) }), request.expiresAt > now else { return .notPending }
        guard request.status == .pending else {
            // A request with a consent decided by other staff meanwhile says so; one without answers as before.
            return request.grantID == nil ? .notPending : .decidedEarlier(approved: request.status != .denied)
        }
        guard let grantID = request.grantID else { return try await finish(request, approve: approve, by: staff) }
        guard let consents, let consent = try await consents.consent(id: grantID) else {
            // A request whose consent is gone cannot be approved; it can still be denied.
            return approve ? .notPending : try await finish(request, approve: false, by: staff)
        }
        let context = AuditContext.current
        let outcome: ConsentOutcome?
        if approve {
            guard let shownHash else { return .detailsNotShown }
            // Typed back exactly as shown (issue 19: "a payment is confirmed by typing its amount as shown").
            guard typedAmounts == ConsentDisplay.paymentAmounts(consent.authorizationDetails) else { return .amountMismatch }
            let username = request.username
            // Awaiting, it lived only as long as the CIBA request; authorised, as its details say (one expiry rule).
            let authorisedUntil = Consent.expiry(for: consent.authorizationDetails, createdAt: consent.createdAt, default: consentLifetime)
            outcome = try await consents.updateConsent(id: grantID) {
                $0.approved(
                    by: staff, subject: username, acr: nil, amr: [], shownHash: shownHash, at: now, authorisedUntil: authorisedUntil, context: context)
            }
        } else {
            outcome = try await consents.updateConsent(id: grantID) { $0.rejected(by: staff, at: now, context: context) }
        }
        switch outcome {
        case .done(let decided)?:
            // This decision decided the consent; the request follows it (a pending list may have completed it already).
            let approved = decided.status == .authorised
            _ = try await finish(request, approve: approved, by: staff)
            return approved ? .authorised(approvals: decided.approvals.count, required: decided.approvalsRequired) : .decided(approved: false)
        case .approvalRecorded(let recorded, _)?:
            ServerMetrics.cibaDecisions.increment("approval_recorded")
            return .approvalRecorded(approvals: recorded.approvals.count, required: recorded.approvalsRequired)
        case .alreadyApprovedBy?: return .alreadyApprovedBy
        case .detailsChanged?: return .detailsChanged
        case .wrongStatus?, .notYours?:
            // Decided by others meanwhile (or a crash left the request behind): the request follows the consent.
            guard let current = try await consents.consent(id: grantID) else { return .notPending }
            let status = current.status(at: now)
            guard status != .awaitingAuthorisation else { return .notPending }
            try await settle(request, consent: current)
            return .decidedEarlier(approved: status == .authorised || status == .consumed)
        case nil: return .notPending
        }
    }

    /// Completes a pending request from its consent when the consent is decided: approved when authorised (under
    /// the account whose approval authorised it), denied when rejected, revoked or expired. Returns whether it is
    /// approved; nil while the consent still awaits approval or the request is no longer pending.
    @discardableResult
    public func settle(_ request: CIBARequest, consent: Consent) async throws(StorageError) -> Bool? {
        let now = clock.now()
        let status = consent.status(at: now)
        guard status != .awaitingAuthorisation else { return nil }
        let approved = status == .authorised || status == .consumed
        guard try await store.decideCIBARequest(id: request.id, approve: approved, by: consent.decidedBy ?? "fapid", now: now) else { return nil }
        ServerMetrics.cibaDecisions.increment(approved ? "approved" : "denied")
        return approved
    }

    /// The request's own decision, with its `ciba.decided` event.
    func finish(_ request: CIBARequest, approve: Bool, by staff: String) async throws(StorageError) -> Decision {
        guard try await store.decideCIBARequest(id: request.id, approve: approve, by: staff, now: clock.now()) else { return .notPending }
        ServerMetrics.cibaDecisions.increment(approve ? "approved" : "denied")
        return .decided(approved: approve)
    }
}
