public import AuthorizationServer
public import Foundation
import GRDB

/// `CIBAStore` over `ciba_requests`; every state change is one transaction. With a `sealer`, the secrets a
/// ping or push notification sends (`auth_req_id`, `client_notification_token`) are stored sealed in
/// `notification_sealed` until delivery, never in plaintext.
public struct SQLiteCIBAStore: CIBAStore {
    let database: SQLiteDatabase
    let sealer: CIBANotificationSealer?

    public init(database: SQLiteDatabase, sealer: CIBANotificationSealer? = nil) {
        self.database = database
        self.sealer = sealer
    }

    static func seconds(_ date: Date) -> Int64 { SQLiteDatabase.seconds(date) }
    static func date(_ value: Int64?) -> Date? { value.map { Date(timeIntervalSince1970: TimeInterval($0)) } }
    static let columns = """
        id, auth_req_id_hash, client_id, username, scope, binding_message, acr, delivery_mode, notification_token, created_at, expires_at,
        poll_interval, last_polled_at, status, decided_by, decided_at, ping_auth_req_id, notification_sealed, grant_id
        """

    func decode(_ row: Row) -> CIBARequest {
        CIBARequest(
            id: row[0], authReqIDHash: [UInt8](row[1] as Data), clientID: row[2], username: row[3], scope: row[4], bindingMessage: row[5], acr: row[6],
            deliveryMode: row[7], notificationToken: row[8], createdAt: Self.date(row[9])!, expiresAt: Self.date(row[10])!, interval: row[11],
            lastPolledAt: Self.date(row[12]), status: CIBARequest.Status(rawValue: row[13]) ?? .pending, decidedBy: row[14],
            decidedAt: Self.date(row[15]), pingAuthReqID: row[16], grantID: row[18]
        ).openingSecrets((row[17] as Data?).map { [UInt8]($0) }, with: sealer)
    }

    public func insertCIBARequest(_ request: CIBARequest, audit: AuditEvent?) async throws(StorageError) {
        let (stored, box) = try request.sealingSecrets(with: sealer)
        let sealed = box.map { Data($0) }
        try await database.write { [stored, sealed] db in
            try db.execute(
                sql: "INSERT INTO ciba_requests (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    stored.id, Data(stored.authReqIDHash), stored.clientID, stored.username, stored.scope, stored.bindingMessage, stored.acr,
                    stored.deliveryMode, stored.notificationToken, Self.seconds(stored.createdAt), Self.seconds(stored.expiresAt), stored.interval,
                    stored.lastPolledAt.map(Self.seconds), stored.status.rawValue, stored.decidedBy, stored.decidedAt.map(Self.seconds),
                    stored.pingAuthReqID, sealed, stored.grantID,
                ])
            try SQLiteAuditLog.append(audit, to: db)
        }
    }

    public func updateCIBARequest<R: Sendable>(
        authReqIDHash: [UInt8], _ transition: @escaping @Sendable (CIBARequest) -> StoredTransition<CIBARequest, R>
    ) async throws(StorageError) -> R? {
        try await update(where: "auth_req_id_hash = ?", Data(authReqIDHash), transition)
    }

    public func updateCIBARequest<R: Sendable>(
        id: String, _ transition: @escaping @Sendable (CIBARequest) -> StoredTransition<CIBARequest, R>
    ) async throws(StorageError) -> R? {
        try await update(where: "id = ?", id, transition)
    }

    /// The write transaction holds SQLite's one write lock from the read to the commit.
    private func update<R: Sendable>(
        where condition: String, _ key: some DatabaseValueConvertible & Sendable,
        _ transition: @escaping @Sendable (CIBARequest) -> StoredTransition<CIBARequest, R>
    ) async throws(StorageError) -> R? {
        try await database.write { db -> R? in
            guard let row = try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM ciba_requests WHERE \(condition)", arguments: [key]) else {
                return nil
            }
            let step = transition(decode(row))
            if let next = step.updated {
                try db.execute(
                    sql: "UPDATE ciba_requests SET status = ?, poll_interval = ?, last_polled_at = ?, decided_by = ?, decided_at = ? WHERE id = ?",
                    arguments: [
                        next.status.rawValue, next.interval, next.lastPolledAt.map(Self.seconds), next.decidedBy, next.decidedAt.map(Self.seconds), next.id,
                    ])
            }
            try SQLiteTokenRows.applyAll(step.revocations, db)
            try SQLiteAuditLog.append(step.audit, to: db)
            return step.result
        }
    }

    public func pendingCIBARequests(now: Date) async throws(StorageError) -> [CIBARequest] {
        try await database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT \(Self.columns) FROM ciba_requests WHERE status = 'pending' AND expires_at > ? ORDER BY created_at, id",
                arguments: [Self.seconds(now)]
            ).map(decode)
        }
    }

    public func pendingCIBACount(now: Date) async throws(StorageError) -> Int {
        try await database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM ciba_requests WHERE status = 'pending' AND expires_at > ?", arguments: [Self.seconds(now)]) ?? 0
        }
    }

    static let claimable = """
        FROM ciba_requests
        WHERE delivery_mode IN ('ping', 'push') AND status IN ('approved', 'denied') AND notified_at IS NULL AND expires_at > ?
            AND (notify_claimed_until IS NULL OR notify_claimed_until <= ?)
        """

    /// The notifier asks several times a second; a read answers "nothing to send" first, so an idle round never
    /// takes SQLite's one write lock: while another process holds it, the requests' own writes then wait one
    /// busy timeout, not a claim round's busy timeout and then their own.
    public func claimCIBANotifications(now: Date, lease: TimeInterval, limit: Int) async throws(StorageError) -> [CIBARequest] {
        let current = Self.seconds(now)
        let any = try await database.readStatement { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 \(Self.claimable))", arguments: [current, current]) ?? false
        }
        guard any else { return [] }
        return try await database.write { db in
            let requests = try Row.fetchAll(
                db, sql: "SELECT \(Self.columns) \(Self.claimable) ORDER BY decided_at LIMIT ?", arguments: [current, current, limit]
            ).map(decode)
            for request in requests {
                try db.execute(
                    sql: "UPDATE ciba_requests SET notify_claimed_until = ? WHERE id = ?", arguments: [Self.seconds(now.addingTimeInterval(lease)), request.id])
            }
            return requests
        }
    }

    public func markCIBANotified(id: String, now: Date) async throws(StorageError) {
        try await database.write { db in
            try db.execute(sql: "UPDATE ciba_requests SET notified_at = ?, ping_auth_req_id = NULL, notification_token = NULL, notification_sealed = NULL WHERE id = ?", arguments: [Self.seconds(now), id])
        }
    }
}
