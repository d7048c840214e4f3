public import Foundation

/// What a poll found (CIBA Core §11), decided by `CIBARequest.polled` on the locked row.
public enum CIBAPoll: Sendable, Equatable {
    case pending
    /// Polled faster than the interval; the interval has grown by 5 s.
    case slowDown
    case denied
    case expired
    /// Approved and now redeemed: tokens may be issued, once.
    case approved(CIBARequest)
    /// Unknown, another client's, or already redeemed.
    case invalid
}

/// The state machine of a CIBA request, once for every backend: each function is the transition of one
/// locked row (`CIBAStore.updateCIBARequest`).
extension CIBARequest {
    /// CIBA Core §11 token request in poll mode: another client's or an already redeemed request is invalid;
    /// then expired (`expired_token`), denied (`access_denied`), approved (redeemed now, tokens issued once);
    /// a pending one polled sooner than the interval is `slow_down`, and the interval grows by 5 s
    /// (§11: "the interval MUST be increased by at least 5 seconds"); every pending poll is remembered.
    public func polled(by client: String, at now: Date) -> StoredTransition<CIBARequest, CIBAPoll> {
        guard clientID == client, status != .redeemed else { return StoredTransition(.invalid) }
        if expiresAt <= now { return StoredTransition(.expired) }
        var next = self
        switch status {
        case .denied:
            return StoredTransition(.denied)
        case .approved:
            next.status = .redeemed
            return StoredTransition(.approved(self), updated: next)
        case .pending, .redeemed:
            next.lastPolledAt = now
            if let last = lastPolledAt, now.timeIntervalSince(last) < TimeInterval(interval) {
                next.interval += 5
                return StoredTransition(.slowDown, updated: next)
            }
            return StoredTransition(.pending, updated: next)
        }
    }

    /// CIBA Core §8 (the OP obtains the user's consent or refusal): only a pending, unexpired request is decided,
    /// once, recorded with a `ciba.decided` event naming the staff member.
    public func decided(approve: Bool, by staff: String, at now: Date, context: AuditContext? = AuditContext.current)
        -> StoredTransition<CIBARequest, Bool>
    {
        guard status == .pending, expiresAt > now else { return StoredTransition(false) }
        var next = self
        next.status = approve ? .approved : .denied
        next.decidedBy = staff
        next.decidedAt = now
        let audit = AuditEvent(
            .cibaDecided, at: now, clientID: clientID, user: staff, outcome: approve ? .success : .failure,
            reason: "request \(id) \(approve ? "approved" : "denied") for PSU \(username)", interactionID: context?.interactionID,
            source: context?.source)
        return StoredTransition(true, updated: next, audit: audit)
    }

    /// CIBA Core §10.3.1 push mode: the tokens are delivered once, so an approved request becomes redeemed.
    public func redeemed() -> StoredTransition<CIBARequest, Bool> {
        guard status == .approved else { return StoredTransition(false) }
        var next = self
        next.status = .redeemed
        return StoredTransition(true, updated: next)
    }
}

extension CIBAStore {
    /// One poll: updates `last_polled_at`, grows the interval on `slow_down`, and moves approved to redeemed.
    public func pollCIBARequest(authReqIDHash: [UInt8], clientID: String, now: Date) async throws(StorageError) -> CIBAPoll {
        try await updateCIBARequest(authReqIDHash: authReqIDHash) { $0.polled(by: clientID, at: now) } ?? .invalid
    }

    /// Records the decision of a pending, unexpired request, with a `ciba.decided` audit event naming the
    /// staff member `by`, in one transaction; false otherwise.
    public func decideCIBARequest(id: String, approve: Bool, by: String, now: Date) async throws(StorageError) -> Bool {
        let context = AuditContext.current
        return try await updateCIBARequest(id: id) { $0.decided(approve: approve, by: by, at: now, context: context) } ?? false
    }

    /// Push mode: moves an approved request to redeemed, atomically; false if it was not approved.
    public func redeemCIBARequest(id: String) async throws(StorageError) -> Bool {
        try await updateCIBARequest(id: id) { $0.redeemed() } ?? false
    }
}
