public import Foundation
public import JOSE

/// Expiry of consents as stored: a consent past `expiresAt` reads as expired at once (`Consent.status(at:)`), and
/// the expiry sweep (`FapidRuntime.ExpirySweeper`) also writes the status, so listings by status are right, the
/// change is evidence in the audit chain, and its tokens (a refresh token can outlive its consent) stop working.
/// Consents are never deleted: their rows are the evidence of what was authorised (PSD2 record keeping).
extension Consent {
    /// The expiry of an awaiting or authorised consent whose `expiresAt` has passed, written as `expired`, with
    /// every token issued under it revoked in the same transaction; `wrongStatus` for any other (it was decided,
    /// or its expiry was extended, meanwhile).
    public func markedExpired(at now: Date) -> StoredTransition<Consent, ConsentOutcome> {
        guard status == .awaitingAuthorisation || status == .authorised, status(at: now) == .expired else {
            return StoredTransition(.wrongStatus(status(at: now)))
        }
        var next = self
        next.status = .expired
        next.updatedAt = now
        let audit = AuditEvent(
            .consentUpdated, at: now, clientID: clientID, user: subject,
            reason: ConsentEvidence.reason(consentID: id, ["status": Status.expired.rawValue, "was": status.rawValue, "type": type]),
            interactionID: nil, source: "expiry")
        return StoredTransition(.done(next), updated: next, revocations: StoredRevocation.consentRevoked(id, at: now), audit: audit)
    }
}

extension Consent {
    /// The one expiry rule of a consent's grant: the earliest `expirationDateTime` its details name (read with
    /// `AccountInformationDetail.parseDateTime`, the validator's own RFC 3339 parser, so the expiry the validator
    /// accepted is the expiry stored), else `defaultLifetime` from `createdAt`.
    public static func expiry(for details: JSON, createdAt: Date, default defaultLifetime: TimeInterval) -> Date {
        let named = (details.arrayValue ?? []).compactMap { $0["expirationDateTime"]?.stringValue }.compactMap(AccountInformationDetail.parseDateTime)
        return named.min() ?? createdAt.addingTimeInterval(defaultLifetime)
    }
}

extension ConsentStore {
    /// One bounded pass of the expiry sweep: at most `limit` consents stored as awaiting or authorised whose
    /// `expiresAt` is at or before `now` are marked expired, each in its own transaction on its locked row (so an
    /// approval or revocation at the same moment is decided one at a time). Returns how many were marked.
    public func markExpiredConsents(now: Date, limit: Int) async throws(StorageError) -> Int {
        var marked = 0
        for id in try await consentIDs(expiredBy: now, limit: max(0, limit)) {
            if case .done = try await updateConsent(id: id, { $0.markedExpired(at: now) }) { marked += 1 }
        }
        return marked
    }
}
