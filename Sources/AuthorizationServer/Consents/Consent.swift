public import Foundation
public import JOSE

/// A consent (a grant, in Grant Management's words): what a client asked for, in RFC 9396 `authorization_details`
/// and scopes, and what became of it. Its `id` is the `grant_id` of the token response, introspection and JWT
/// access tokens, and the `openbanking_intent_id` a client names in its authorization request.
public struct Consent: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        /// Created (by PAR, `/bc-authorize` or a resource server's `POST /consents`), not yet decided.
        case awaitingAuthorisation = "awaiting_authorisation"
        case authorised
        case rejected
        /// A single payment whose one use was made.
        case consumed
        case revoked
        case expired
    }

    /// Where the consent was created.
    public enum Origin: String, Sendable, CaseIterable {
        case pushedRequest = "par"
        case authorizationRequest = "authorize"
        case backchannelRequest = "ciba"
        case resourceServer = "resource_server"
    }

    /// One staff member's (or the customer's) approval, under dual control one of several.
    public struct Approval: Sendable, Equatable {
        /// The staff account (admin socket peer) or the customer's username.
        public var by: String
        public var at: Date
        /// SHA-256 (hex) of the canonical `authorization_details` shown to the approver (`ConsentEvidence`).
        public var detailsHash: String

        public init(by: String, at: Date, detailsHash: String) {
            self.by = by
            self.at = at
            self.detailsHash = detailsHash
        }
    }

    /// The `grant_id`: 128 random bits, base64url. Not secret (it names the consent to the bank and the client),
    /// but unguessable, and every read of it is limited to its client or its user.
    public var id: String
    public var clientID: String
    /// The customer the consent is (to be) given by; nil until known (an intent created by a resource server).
    public var subject: String?
    /// The first detail's `type`, or `scope` for a consent of scopes only.
    public var type: String
    /// The RFC 9396 `authorization_details` array, exactly as validated (and, once authorised, as granted).
    public var authorizationDetails: JSON
    /// Space-separated scopes.
    public var scope: String
    public var status: Status
    public var origin: Origin
    public var createdAt: Date
    /// Last change of status, details or approvals (Grant Management's `updated_at`).
    public var updatedAt: Date
    public var authorisedAt: Date?
    public var expiresAt: Date
    /// Who decided last (the customer, or the staff account whose decision completed or rejected it).
    public var decidedBy: String?
    /// How the customer authenticated for the decision (OIDC `acr`, `amr`).
    public var acr: String?
    public var amr: [String]
    /// Approvals given so far, in order.
    public var approvals: [Approval]
    /// How many distinct approvers it needs (1 unless a `dual_control` policy asks for more).
    public var approvalsRequired: Int
    /// The client certificate's `x5t#S256` and the revocation-status answer it had when the consent was requested
    /// (`ConsentService.certificateStatus`: `accepted not_known_revoked`, `revoked`, …), for the evidence of `fapictl audit export --consent`.
    public var certificateThumbprint: String?
    public var certificateStatus: String?
    /// SHA-256 (hex) of the RFC 8785 canonical form of the request that created it (`ConsentEvidence`).
    public var requestHash: String?

    public init(
        id: String, clientID: String, subject: String?, type: String, authorizationDetails: JSON, scope: String, status: Status,
        origin: Origin, createdAt: Date, updatedAt: Date? = nil, authorisedAt: Date? = nil, expiresAt: Date, decidedBy: String? = nil,
        acr: String? = nil, amr: [String] = [], approvals: [Approval] = [], approvalsRequired: Int = 1,
        certificateThumbprint: String? = nil, certificateStatus: String? = nil, requestHash: String? = nil
    ) {
        self.id = id
        self.clientID = clientID
        self.subject = subject
        self.type = type
        self.authorizationDetails = authorizationDetails
        self.scope = scope
        self.status = status
        self.origin = origin
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.authorisedAt = authorisedAt
        self.expiresAt = expiresAt
        self.decidedBy = decidedBy
        self.acr = acr
        self.amr = amr
        self.approvals = approvals
        self.approvalsRequired = approvalsRequired
        self.certificateThumbprint = certificateThumbprint
        self.certificateStatus = certificateStatus
        self.requestHash = requestHash
    }

    /// Its status as of `now`: a consent past `expiresAt` that was awaiting or authorised reads as expired.
    public func status(at now: Date) -> Status {
        Status.asOf(status, expiresAt: expiresAt, at: now)
    }
}

/// Which consents `fapictl consents list` and `/account/consents` ask for; nil members match every consent.
public struct ConsentFilter: Sendable, Equatable {
    public var clientID: String?
    public var subject: String?
    public var status: Consent.Status?
    public var limit: Int
    /// When set, `status` is matched as of this time (`Consent.status(at:)`): an awaiting or authorised consent
    /// past `expiresAt` matches `expired` and neither of the others, whether or not the expiry sweep has marked it.
    /// Nil: the status as stored.
    public var asOf: Date?

    public init(clientID: String? = nil, subject: String? = nil, status: Consent.Status? = nil, limit: Int = 1000, asOf: Date? = nil) {
        self.clientID = clientID
        self.subject = subject
        self.status = status
        self.limit = limit
        self.asOf = asOf
    }

    /// Whether `consent` matches (the memory store's reading of the filter; the SQL stores say the same in SQL).
    public func matches(_ consent: Consent) -> Bool {
        (clientID.map { consent.clientID == $0 } ?? true) && (subject.map { consent.subject == $0 } ?? true)
            && (status.map { (asOf.map(consent.status(at:)) ?? consent.status) == $0 } ?? true)
    }
}

/// Consents as stored. Status changes go through `updateConsent`, which locks the row: two approvals at once,
/// an approval racing a revocation, or a single payment redeemed twice are decided by the core on the row as it
/// is, one at a time.
public protocol ConsentStore: Sendable {
    /// Stores the consent and appends `audit`, in one transaction; `conflict` when the id exists.
    func insertConsent(_ consent: Consent, audit: AuditEvent?) async throws(StorageError)
    func consent(id: String) async throws(StorageError) -> Consent?
    /// Locks the consent's row, hands it to `transition`, writes back what it returns (every member but `id`,
    /// `clientID`, `origin` and `createdAt`), applies its revocations (`TokenRevocation.Target.grant`) and appends its
    /// audit event, in one transaction; nil when there is no such consent.
    func updateConsent<R: Sendable>(
        id: String, _ transition: @escaping @Sendable (Consent) -> StoredTransition<Consent, R>
    ) async throws(StorageError) -> R?
    /// Consents matching `filter`, newest first, at most `filter.limit`.
    func consents(_ filter: ConsentFilter) async throws(StorageError) -> [Consent]
    /// The ids of at most `limit` consents stored as `awaiting_authorisation` or `authorised` whose `expiresAt` is at
    /// or before `now`, earliest expiry first (`markExpiredConsents`).
    func consentIDs(expiredBy now: Date, limit: Int) async throws(StorageError) -> [String]
}
