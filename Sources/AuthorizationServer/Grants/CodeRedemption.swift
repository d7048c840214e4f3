public import Foundation

/// What redeeming an authorization code found.
public enum CodeRedemption: Sendable, Equatable {
    case redeemed(AuthorizationCodeRecord)
    /// Already used: everything issued from it has just been revoked (RFC 6749 §4.1.2, FAPI).
    case reused
    case unknownOrExpired
}

extension StoredCode {
    /// RFC 6749 §4.1.2: a code is used once. A second redemption fails, marks the code reused (so that
    /// tokens of the first one still to be stored are stored revoked), revokes what the first produced
    /// (`StoredRevocation.codeReused`) and records a `code.reuse_detected` event. An expired code is refused.
    public func redeemed(at now: Date, context: AuditContext? = AuditContext.current) -> StoredTransition<StoredCode, CodeRedemption> {
        if usedAt != nil {
            var next = self
            next.reusedAt = reusedAt ?? now
            let audit = AuditEvent(
                .codeReuseDetected, at: now, clientID: record.clientID, user: record.subject, outcome: .failure,
                reason: "authorization code redeemed twice: the tokens issued from it were revoked", interactionID: context?.interactionID,
                source: context?.source)
            return StoredTransition(.reused, updated: next, revocations: StoredRevocation.codeReused(record.codeHash, at: now), audit: audit)
        }
        guard record.expiresAt > now else { return StoredTransition(.unknownOrExpired) }
        var next = self
        next.usedAt = now
        return StoredTransition(.redeemed(record), updated: next)
    }
}

extension AuthorizationCodeStore {
    /// Marks the code used, atomically. A second redemption revokes the tokens issued from the first and
    /// appends a `code.reuse_detected` event in the same transaction.
    public func redeemCode(hash: [UInt8], now: Date) async throws(StorageError) -> CodeRedemption {
        let context = AuditContext.current
        return try await updateCode(hash: hash) { $0.redeemed(at: now, context: context) } ?? .unknownOrExpired
    }
}
