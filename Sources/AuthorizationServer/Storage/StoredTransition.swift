/// What the core decides when a store hands it one locked row (fosite's `storage/transactional.go` spirit):
/// the answer for the caller, the row as it must be written back (nil: unchanged), the tokens to revoke and
/// the audit event to append, all in the transaction that holds the lock.
public struct StoredTransition<State: Sendable, Result: Sendable>: Sendable {
    public var result: Result
    public var updated: State?
    public var revocations: [TokenRevocation]
    public var audit: AuditEvent?

    public init(_ result: Result, updated: State? = nil, revocations: [TokenRevocation] = [], audit: AuditEvent? = nil) {
        self.result = result
        self.updated = updated
        self.revocations = revocations
        self.audit = audit
    }
}
