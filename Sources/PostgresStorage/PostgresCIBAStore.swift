public import AuthorizationServer
public import Foundation
import NIOCore
import PostgresNIO

/// `CIBAStore` on PostgreSQL: every state change is one transaction, under a lock of the request's row, so
/// a decision made through one instance and polls arriving at others see one order.
/// With a `sealer`, the secrets a ping or push notification sends are stored sealed in `notification_sealed`
/// until delivery, never in plaintext (as `SQLiteCIBAStore`).
public struct PostgresCIBAStore: CIBAStore {
    let database: PostgresDatabase
    let sealer: CIBANotificationSealer?

    public init(database: PostgresDatabase, sealer: CIBANotificationSealer? = nil) {
        self.database = database
        self.sealer = sealer
    }

    static let columns = """
        id, auth_req_id_hash, client_id, username, scope, binding_message, acr, delivery_mode, notification_token, created_at, expires_at,
        poll_interval, last_polled_at, status, decided_by, decided_at, ping_auth_req_id, notification_sealed, grant_id
        """

    func decode(_ row: PostgresRandomAccessRow) throws -> CIBARequest {
        CIBARequest(
            id: try row.value(0), authReqIDHash: try row.bytes(1), clientID: try row.value(2), username: try row.value(3), scope: try row.value(4),
            bindingMessage: try row.value(5), acr: try row.value(6), deliveryMode: try row.value(7), notificationToken: try row.value(8),
            createdAt: try row.date(9), expiresAt: try row.date(10), interval: Int(try row.value(11, as: Int64.self)),
            lastPolledAt: try row.optionalDate(12), status: CIBARequest.Status(rawValue: try row.value(13)) ?? .pending, decidedBy: try row.value(14),
            decidedAt: try row.optionalDate(15), pingAuthReqID: try row.value(16), grantID: try row.value(18)
        ).openingSecrets(try row.optionalBytes(17), with: sealer)
    }

    public func insertCIBARequest(_ original: CIBARequest, audit: AuditEvent?) async throws(StorageError) {
        let (request, box) = try original.sealingSecrets(with: sealer)
        let sealed = box.map { ByteBuffer(bytes: $0) }
        try await database.transaction { [request, sealed] tx in
            try await tx.execute(
                """
                INSERT INTO ciba_requests (\(unescaped: Self.columns)) VALUES (\(request.id), \(ByteBuffer(bytes: request.authReqIDHash)), \(request.clientID),
                    \(request.username), \(request.scope), \(request.bindingMessage), \(request.acr), \(request.deliveryMode),
                    \(request.notificationToken), \(StoredTime.seconds(request.createdAt)), \(StoredTime.seconds(request.expiresAt)),
                    \(Int64(request.interval)), \(request.lastPolledAt.map(StoredTime.seconds)), \(request.status.rawValue), \(request.decidedBy),
                    \(request.decidedAt.map(StoredTime.seconds)), \(request.pingAuthReqID), \(sealed), \(request.grantID))
                """)
            try await PostgresAuditLog.append(audit, to: tx)
        }
    }

    public func updateCIBARequest<R: Sendable>(
        authReqIDHash: [UInt8], _ transition: @escaping @Sendable (CIBARequest) -> StoredTransition<CIBARequest, R>
    ) async throws(StorageError) -> R? {
        let hash = ByteBuffer(bytes: authReqIDHash)
        return try await update("SELECT \(unescaped: Self.columns) FROM ciba_requests WHERE auth_req_id_hash = \(hash) FOR UPDATE", transition)
    }

    public func updateCIBARequest<R: Sendable>(
        id: String, _ transition: @escaping @Sendable (CIBARequest) -> StoredTransition<CIBARequest, R>
    ) async throws(StorageError) -> R? {
        try await update("SELECT \(unescaped: Self.columns) FROM ciba_requests WHERE id = \(id) FOR UPDATE", transition)
    }

    /// `select` locks the row (`FOR UPDATE`) until the transaction ends.
    private func update<R: Sendable>(
        _ select: PostgresQuery, _ transition: @escaping @Sendable (CIBARequest) -> StoredTransition<CIBARequest, R>
    ) async throws(StorageError) -> R? {
        try await database.transaction { tx -> R? in
            guard let row = try await tx.rows(select).first else { return nil }
            let step = transition(try decode(row))
            if let next = step.updated {
                try await tx.execute(
                    """
                    UPDATE ciba_requests SET status = \(next.status.rawValue), poll_interval = \(Int64(next.interval)),
                        last_polled_at = \(next.lastPolledAt.map(StoredTime.seconds)), decided_by = \(next.decidedBy),
                        decided_at = \(next.decidedAt.map(StoredTime.seconds))
                    WHERE id = \(next.id)
                    """)
            }
            try await PostgresTokenRows.applyAll(step.revocations, tx)
            try await PostgresAuditLog.append(step.audit, to: tx)
            return step.result
        }
    }

    public func pendingCIBARequests(now: Date) async throws(StorageError) -> [CIBARequest] {
        try await database.map(
            """
            SELECT \(unescaped: Self.columns) FROM ciba_requests WHERE status = 'pending' AND expires_at > \(StoredTime.seconds(now))
            ORDER BY created_at, id
            """, decode)
    }

    public func pendingCIBACount(now: Date) async throws(StorageError) -> Int {
        let counts = try await database.map(
            "SELECT COUNT(*) FROM ciba_requests WHERE status = 'pending' AND expires_at > \(StoredTime.seconds(now))"
        ) { row in try row.value(0, as: Int64.self) }
        return Int(counts.first ?? 0)
    }

    public func claimCIBANotifications(now: Date, lease: TimeInterval, limit: Int) async throws(StorageError) -> [CIBARequest] {
        let current = StoredTime.seconds(now)
        let until = StoredTime.seconds(now.addingTimeInterval(lease))
        // One statement: rows another instance is claiming right now are skipped, not waited for.
        return try await database.map(
            """
            UPDATE ciba_requests SET notify_claimed_until = \(until)
            WHERE id IN (
                SELECT id FROM ciba_requests
                WHERE delivery_mode IN ('ping', 'push') AND status IN ('approved', 'denied') AND notified_at IS NULL AND expires_at > \(current)
                    AND (notify_claimed_until IS NULL OR notify_claimed_until <= \(current))
                ORDER BY decided_at LIMIT \(Int64(limit)) FOR UPDATE SKIP LOCKED)
            RETURNING \(unescaped: Self.columns)
            """, decode)
    }

    public func markCIBANotified(id: String, now: Date) async throws(StorageError) {
        _ = try await database.rows(
            "UPDATE ciba_requests SET notified_at = \(StoredTime.seconds(now)), ping_auth_req_id = NULL, notification_token = NULL, notification_sealed = NULL WHERE id = \(id)")
    }
}
