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
            let merged = Self.merged(self, details: details, scope: scope.split(separator: " ").map(String.init))
            next.authorizationDetails = merged.details
            next.scope = merged.scopes.joined(separator: " ")
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
                [
                    "action": action.rawValue, "type": next.type, "details_sha256": shownHash,
                    "granted_sha256": ConsentEvidence.detailsHash(next.authorizationDetails), "acr": acr,
                ]),
            interactionID: context?.interactionID, source: context?.source)
        return StoredTransition(.done(next), updated: next, audit: audit)
    }
}

extension Consent {
    /// Grant Management `merge` (draft -02 §4.1): the grant's details and scopes united with the request's, each
    /// detail and scope once, the grant's first. The one rule of the transition and of the checks at PAR and
    /// `/authorize`, which judge the merged grant.
    public static func merged(_ grant: Consent, details: JSON, scope: [String]) -> (details: JSON, scopes: [String]) {
        var entries = grant.authorizationDetails.arrayValue ?? []
        var seen = Set(entries.map(\.canonicalBytes))
        for entry in details.arrayValue ?? [] where seen.insert(entry.canonicalBytes).inserted { entries.append(entry) }
        var scopes = grant.scope.split(separator: " ").map(String.init)
        for token in scope where !scopes.contains(token) { scopes.append(token) }
        return (.array(entries), scopes)
    }
}

extension Consent {
    /// Grant Management `DELETE` (draft -02 §6.5): the client ends its grant and every token issued under it. An
    /// awaiting or authorised consent is revoked as `revoked(by:at:)` revokes it; a single payment already consumed
    /// (its one use made) is marked revoked too, so the access token of that use stops working as well. A grant
    /// already rejected, revoked or expired is not changed (`wrongStatus`).
    public func revokedByClient(at now: Date, context: AuditContext? = AuditContext.current) -> StoredTransition<Consent, ConsentOutcome> {
        guard status(at: now) == .consumed else { return revoked(by: "client", at: now, context: context) }
        var next = self
        next.status = .revoked
        next.updatedAt = now
        let audit = AuditEvent(
            .consentRevoked, at: now, clientID: clientID, user: subject,
            reason: ConsentEvidence.reason(consentID: id, ["by": "client", "type": type, "after": Status.consumed.rawValue]),
            interactionID: context?.interactionID, source: context?.source)
        return StoredTransition(.done(next), updated: next, revocations: StoredRevocation.consentRevoked(id, at: now), audit: audit)
    }
}
