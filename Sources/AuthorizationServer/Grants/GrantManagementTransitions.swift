public import Foundation
public import JOSE

/// Grant Management (draft -02 §4.1) on the locked row of an authorised grant, beside `ConsentTransitions`: the
/// customer approved an authorization request with `grant_management_action` `merge` or `replace`.
extension Consent {
    /// `merge` unites the grant's scopes and details with the request's; `replace` makes them the request's. The
    /// grant must be `client`'s, authorised and the customer's own; `shownHash` is the hash of the request's details
    /// as the consent page showed them. Records a `consent.updated` event with the new details' hash.
    public func updated(
        _ action: GrantManagementAction, details: JSON, scope: String, client: String, subject: String, acr: String?, amr: [String],
        shownHash: String, at now: Date, context: AuditContext? = AuditContext.current
    ) -> StoredTransition<Consent, ConsentOutcome> {
        guard clientID == client else { return StoredTransition(.notYours) }
        if let owner = self.subject, owner != subject { return StoredTransition(.notYours) }
        let current = status(at: now)
        guard current == .authorised else { return StoredTransition(.wrongStatus(current)) }
        guard shownHash == ConsentEvidence.detailsHash(details) else { return StoredTransition(.detailsChanged) }
        var next = self
        switch action {
        case .merge:
            var entries = authorizationDetails.arrayValue ?? []
            var seen = Set(entries.map(\.canonicalBytes))
            for entry in details.arrayValue ?? [] where seen.insert(entry.canonicalBytes).inserted { entries.append(entry) }
            next.authorizationDetails = .array(entries)
            var scopes = self.scope.split(separator: " ").map(String.init)
            for token in scope.split(separator: " ").map(String.init) where !scopes.contains(token) { scopes.append(token) }
            next.scope = scopes.joined(separator: " ")
        case .replace:
            next.authorizationDetails = details
            next.scope = scope
        case .create:
            return StoredTransition(.wrongStatus(current))
        }
        next.type = ConsentService.type(of: next.authorizationDetails)
        next.subject = subject
        next.updatedAt = now
        next.decidedBy = subject
        next.acr = acr
        next.amr = amr
        next.approvals.append(Approval(by: subject, at: now, detailsHash: shownHash))
        let audit = AuditEvent(
            .consentUpdated, at: now, clientID: clientID, user: subject,
            reason: ConsentEvidence.reason(
                consentID: id,
                ["action": action.rawValue, "type": next.type, "details_sha256": shownHash,
                 "granted_sha256": ConsentEvidence.detailsHash(next.authorizationDetails), "acr": acr]),
            interactionID: context?.interactionID, source: context?.source)
        return StoredTransition(.done(next), updated: next, audit: audit)
    }
}
