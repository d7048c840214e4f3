public import AuthorizationServer
public import Foundation

/// `ConsentStore` in memory: each update is one transaction under the database's lock.
public struct MemoryConsentStore: ConsentStore {
    let database: MemoryDatabase

    public init(database: MemoryDatabase = MemoryDatabase()) {
        self.database = database
    }

    public func insertConsent(_ consent: Consent, audit: AuditEvent?) async throws(StorageError) {
        try database.write { (state: inout MemoryState) throws(StorageError) in
            guard state.consents[consent.id] == nil else { throw StorageError(.conflict, "consent \(consent.id) exists") }
            state.consents[consent.id] = consent
            state.appendAudit(audit)
        }
    }

    public func consent(id: String) async throws(StorageError) -> Consent? {
        try database.read { state in state.consents[id] }
    }

    public func updateConsent<R: Sendable>(
        id: String, _ transition: @escaping @Sendable (Consent) -> StoredTransition<Consent, R>
    ) async throws(StorageError) -> R? {
        try database.write { state in
            guard let consent = state.consents[id] else { return nil }
            let step = transition(consent)
            if var next = step.updated {
                // The identity of a consent never changes, as the SQL stores never write those columns.
                next.id = consent.id
                next.clientID = consent.clientID
                next.origin = consent.origin
                next.createdAt = consent.createdAt
                state.consents[id] = next
            }
            state.applyAll(step.revocations)
            state.appendAudit(step.audit)
            return step.result
        }
    }

    public func consents(_ filter: ConsentFilter) async throws(StorageError) -> [Consent] {
        try database.read { state in
            let matching = state.consents.values.filter(filter.matches)
            return Array(matching.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }.prefix(max(0, filter.limit)))
        }
    }
}

extension MemoryConsentStore {
    public func consentIDs(expiredBy now: Date, limit: Int) async throws(StorageError) -> [String] {
        try database.read { state in
            let due = state.consents.values.filter { consent in
                (consent.status == .awaitingAuthorisation || consent.status == .authorised) && consent.expiresAt.storedSeconds <= now.storedSeconds
            }
            return Array(due.sorted { ($0.expiresAt, $0.id) < ($1.expiresAt, $1.id) }.prefix(max(0, limit)).map(\.id))
        }
    }
}
