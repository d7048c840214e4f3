public import AuthorizationServer
public import Foundation

/// `CIBAStore` in memory. The notification secrets stay in memory as given: nothing here is ever written out.
public struct MemoryCIBAStore: CIBAStore {
    let database: MemoryDatabase

    public init(database: MemoryDatabase = MemoryDatabase()) {
        self.database = database
    }

    public func insertCIBARequest(_ request: CIBARequest, audit: AuditEvent?) async throws(StorageError) {
        try database.write { (state: inout MemoryState) throws(StorageError) in
            guard state.ciba[request.id] == nil, !state.ciba.values.contains(where: { $0.request.authReqIDHash == request.authReqIDHash }) else {
                throw StorageError(.conflict, "CIBA request \(request.id) exists")
            }
            state.ciba[request.id] = MemoryState.CIBARow(request: request)
            state.appendAudit(audit)
        }
    }

    public func updateCIBARequest<R: Sendable>(
        authReqIDHash: [UInt8], _ transition: @escaping @Sendable (CIBARequest) -> StoredTransition<CIBARequest, R>
    ) async throws(StorageError) -> R? {
        try database.write { state in
            guard let id = state.ciba.first(where: { $0.value.request.authReqIDHash == authReqIDHash })?.key else { return nil }
            return Self.update(&state, id: id, transition)
        }
    }

    public func updateCIBARequest<R: Sendable>(
        id: String, _ transition: @escaping @Sendable (CIBARequest) -> StoredTransition<CIBARequest, R>
    ) async throws(StorageError) -> R? {
        try database.write { state in Self.update(&state, id: id, transition) }
    }

    /// Writes back the state a transition changes (status, interval, last poll, decision), as the SQL stores do.
    private static func update<R>(
        _ state: inout MemoryState, id: String, _ transition: (CIBARequest) -> StoredTransition<CIBARequest, R>
    ) -> R? {
        guard let request = state.ciba[id]?.request else { return nil }
        let step = transition(request)
        if let next = step.updated {
            state.ciba[id]?.request.status = next.status
            state.ciba[id]?.request.interval = next.interval
            state.ciba[id]?.request.lastPolledAt = next.lastPolledAt
            state.ciba[id]?.request.decidedBy = next.decidedBy
            state.ciba[id]?.request.decidedAt = next.decidedAt
        }
        state.applyAll(step.revocations)
        state.appendAudit(step.audit)
        return step.result
    }

    public func pendingCIBARequests(now: Date) async throws(StorageError) -> [CIBARequest] {
        try database.read { state in
            state.ciba.values.map(\.request).filter { Self.awaitsDecision($0, now: now) }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        }
    }

    public func pendingCIBACount(now: Date) async throws(StorageError) -> Int {
        try database.read { state in state.ciba.values.count { Self.awaitsDecision($0.request, now: now) } }
    }

    static func awaitsDecision(_ request: CIBARequest, now: Date) -> Bool {
        request.status == .pending && request.expiresAt.storedSeconds > now.storedSeconds
    }

    public func claimCIBANotifications(now: Date, lease: TimeInterval, limit: Int) async throws(StorageError) -> [CIBARequest] {
        try database.write { state in
            let current = now.storedSeconds
            let claimable = state.ciba.values.filter { row in
                ["ping", "push"].contains(row.request.deliveryMode) && [.approved, .denied].contains(row.request.status) && row.notifiedAt == nil
                    && row.request.expiresAt.storedSeconds > current && (row.claimedUntil.map { $0.storedSeconds <= current } ?? true)
            }
            let claimed = claimable.map(\.request).sorted { ($0.decidedAt ?? .distantPast) < ($1.decidedAt ?? .distantPast) }.prefix(limit)
            for request in claimed { state.ciba[request.id]?.claimedUntil = now.addingTimeInterval(lease) }
            return Array(claimed)
        }
    }

    public func markCIBANotified(id: String, now: Date) async throws(StorageError) {
        try database.write { state in
            state.ciba[id]?.notifiedAt = now
            state.ciba[id]?.request.pingAuthReqID = nil
            state.ciba[id]?.request.notificationToken = nil
        }
    }
}
