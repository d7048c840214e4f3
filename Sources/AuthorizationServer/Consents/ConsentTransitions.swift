public import Foundation

/// What a consent transition found, decided on the locked row (`ConsentStore.updateConsent`).
public enum ConsentOutcome: Sendable, Equatable {
    /// The change was made; the consent as written.
    case done(Consent)
    /// One approval of several was recorded; the consent stays `awaiting_authorisation`.
    case approvalRecorded(Consent, remaining: Int)
    /// The approver has approved this consent already (dual control needs distinct accounts).
    case alreadyApprovedBy
    /// What was shown is not what the consent now holds.
    case detailsChanged
    /// Another client's consent, or a subject other than the consent's.
    case notYours
    /// Not in a status that allows the change (the consent's status as of now).
    case wrongStatus(Consent.Status)
}

/// The state machine of a consent, once for every backend: each function is the transition of one locked row.
/// `awaiting_authorisation` → `authorised` (after `approvalsRequired` distinct approvals) | `rejected` (any one
/// denial); `authorised` → `consumed` (a single payment, once) | `revoked`; `awaiting_authorisation` → `revoked`.
/// Expiry is read from `expiresAt` (`status(at:)`), so no transition acts on an expired consent.
extension Consent {
    /// One approval by `approver` (the customer's username at the consent page, a staff account at `fapictl ciba`)
    /// of the details whose hash `shownHash` is (`ConsentEvidence.detailsHash` of what was displayed).
    /// `authorisedUntil`: the expiry the consent takes when this approval authorises it (a CIBA consent awaits only as
    /// long as its request, then lives as its details say: `Consent.expiry(for:createdAt:default:)`).
    public func approved(
        by approver: String, subject: String, acr: String?, amr: [String], shownHash: String, at now: Date,
        authorisedUntil: Date? = nil, context: AuditContext? = AuditContext.current
    ) -> StoredTransition<Consent, ConsentOutcome> {
        let current = status(at: now)
        guard current == .awaitingAuthorisation else { return StoredTransition(.wrongStatus(current)) }
        if let owner = self.subject, owner != subject { return StoredTransition(.notYours) }
        guard shownHash == ConsentEvidence.detailsHash(authorizationDetails) else { return StoredTransition(.detailsChanged) }
        guard !approvals.contains(where: { $0.by == approver }) else { return StoredTransition(.alreadyApprovedBy) }
        var next = self
        next.subject = subject
        next.approvals.append(Approval(by: approver, at: now, detailsHash: shownHash))
        next.updatedAt = now
        let remaining = max(0, approvalsRequired - next.approvals.count)
        let complete = remaining == 0
        if complete {
            next.status = .authorised
            next.authorisedAt = now
            next.decidedBy = approver
            next.acr = acr
            next.amr = amr
            if let authorisedUntil { next.expiresAt = authorisedUntil }
        }
        let audit = AuditEvent(
            complete ? .consentAuthorised : .consentApproved, at: now, clientID: clientID, user: approver,
            reason: ConsentEvidence.reason(
                consentID: id,
                ["type": type, "details_sha256": shownHash, "request_sha256": requestHash, "acr": acr, "subject": subject,
                 "approvals": "\(next.approvals.count)/\(approvalsRequired)"]),
            interactionID: context?.interactionID, source: context?.source)
        return StoredTransition(complete ? .done(next) : .approvalRecorded(next, remaining: remaining), updated: next, audit: audit)
    }

    /// A denial: any one rejects an awaiting consent.
    public func rejected(by approver: String, at now: Date, context: AuditContext? = AuditContext.current) -> StoredTransition<Consent, ConsentOutcome> {
        let current = status(at: now)
        guard current == .awaitingAuthorisation else { return StoredTransition(.wrongStatus(current)) }
        var next = self
        next.status = .rejected
        next.decidedBy = approver
        next.updatedAt = now
        let audit = AuditEvent(
            .consentRejected, at: now, clientID: clientID, user: approver, outcome: .failure,
            reason: ConsentEvidence.reason(consentID: id, ["type": type, "details_sha256": ConsentEvidence.detailsHash(authorizationDetails)]),
            interactionID: context?.interactionID, source: context?.source)
        return StoredTransition(.done(next), updated: next, audit: audit)
    }

    /// Revocation (Grant Management `DELETE`, `fapictl consents revoke`, the customer's withdrawal) of an awaiting
    /// or authorised consent, with every token issued under it, in the same transaction. `by` names who revoked
    /// (`client`, `staff:<account>`, `customer:<username>`).
    public func revoked(by: String, at now: Date, context: AuditContext? = AuditContext.current) -> StoredTransition<Consent, ConsentOutcome> {
        let current = status(at: now)
        guard current == .awaitingAuthorisation || current == .authorised else { return StoredTransition(.wrongStatus(current)) }
        var next = self
        next.status = .revoked
        next.updatedAt = now
        let audit = AuditEvent(
            .consentRevoked, at: now, clientID: clientID, user: subject, reason: ConsentEvidence.reason(consentID: id, ["by": by, "type": type]),
            interactionID: context?.interactionID, source: context?.source)
        return StoredTransition(.done(next), updated: next, revocations: StoredRevocation.consentRevoked(id, at: now), audit: audit)
    }

    /// The one use of a single-payment consent: authorised → consumed, once; a second use finds it consumed.
    public func consumed(by client: String, at now: Date, context: AuditContext? = AuditContext.current) -> StoredTransition<Consent, ConsentOutcome> {
        guard clientID == client else { return StoredTransition(.notYours) }
        let current = status(at: now)
        guard current == .authorised else { return StoredTransition(.wrongStatus(current)) }
        var next = self
        next.status = .consumed
        next.updatedAt = now
        let audit = AuditEvent(
            .consentConsumed, at: now, clientID: clientID, user: subject, reason: ConsentEvidence.reason(consentID: id, ["type": type]),
            interactionID: context?.interactionID, source: context?.source)
        return StoredTransition(.done(next), updated: next, audit: audit)
    }
}
