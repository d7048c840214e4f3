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
        poll_interval, last_polled_at, status, decided_by, decided_at, ping_auth_req_id, notification_sealed
        """

    func decode(_ row: Row) -> CIBARequest {
        var request = CIBARequest(
            id: row[0], authReqIDHash: [UInt8](row[1] as Data), clientID: row[2], username: row[3], scope: row[4], bindingMessage: row[5], acr: row[6],
            deliveryMode: row[7], notificationToken: row[8], createdAt: Self.date(row[9])!, expiresAt: Self.date(row[10])!, interval: row[11],
            lastPolledAt: Self.date(row[12]), status: CIBARequest.Status(rawValue: row[13]) ?? .pending, decidedBy: row[14],
            decidedAt: Self.date(row[15]), pingAuthReqID: row[16])
        if let sealed = row[17] as Data? {
            // Sealed under another key (or altered): no secrets, so no notification is sent from here.
            let secrets = sealer?.open([UInt8](sealed), requestID: request.id)
            request.pingAuthReqID = secrets?.authReqID
            request.notificationToken = secrets?.notificationToken
        }
        return request
    }

    public func insertCIBARequest(_ request: CIBARequest, audit: AuditEvent?) async throws(StorageError) {
        var sealed: Data?
        var stored = request
        if let sealer, request.pingAuthReqID != nil || request.notificationToken != nil {
            sealed = Data(
                try sealer.seal(.init(authReqID: request.pingAuthReqID, notificationToken: request.notificationToken), requestID: request.id))
            stored.pingAuthReqID = nil
            stored.notificationToken = nil
        }
        try await database.write { [stored, sealed] db in
            try db.execute(
                sql: "INSERT INTO ciba_requests (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    stored.id, Data(stored.authReqIDHash), stored.clientID, stored.username, stored.scope, stored.bindingMessage, stored.acr,
                    stored.deliveryMode, stored.notificationToken, Self.seconds(stored.createdAt), Self.seconds(stored.expiresAt), stored.interval,
                    stored.lastPolledAt.map(Self.seconds), stored.status.rawValue, stored.decidedBy, stored.decidedAt.map(Self.seconds),
                    stored.pingAuthReqID, sealed,
                ])
            try SQLiteAuditLog.append(audit, to: db)
        }
    }

    public func pollCIBARequest(authReqIDHash: [UInt8], clientID: String, now: Date) async throws(StorageError) -> CIBAPoll {
        let current = Self.seconds(now)
        return try await database.write { db -> CIBAPoll in
            guard let row = try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM ciba_requests WHERE auth_req_id_hash = ?", arguments: [Data(authReqIDHash)])
            else { return .invalid }
            let request = decode(row)
            guard request.clientID == clientID, request.status != .redeemed else { return .invalid }
            if request.expiresAt <= now { return .expired }
            switch request.status {
            case .denied: return .denied
            case .approved:
                try db.execute(sql: "UPDATE ciba_requests SET status = 'redeemed' WHERE id = ?", arguments: [request.id])
                return .approved(request)
            default:
                if let last = request.lastPolledAt, now.timeIntervalSince(last) < TimeInterval(request.interval) {
                    // CIBA Core §11: slow_down, and the client must add 5 s to its interval.
                    try db.execute(
                        sql: "UPDATE ciba_requests SET poll_interval = poll_interval + 5, last_polled_at = ? WHERE id = ?",
                        arguments: [current, request.id])
                    return .slowDown
                }
                try db.execute(sql: "UPDATE ciba_requests SET last_polled_at = ? WHERE id = ?", arguments: [current, request.id])
                return .pending
            }
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

    public func decideCIBARequest(id: String, approve: Bool, by: String, now: Date) async throws(StorageError) -> Bool {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE ciba_requests SET status = ?, decided_by = ?, decided_at = ? WHERE id = ? AND status = 'pending' AND expires_at > ?",
                arguments: [approve ? "approved" : "denied", by, Self.seconds(now), id, Self.seconds(now)])
            guard db.changesCount == 1,
                let row = try Row.fetchOne(db, sql: "SELECT client_id, username FROM ciba_requests WHERE id = ?", arguments: [id])
            else { return false }
            let psu: String = row[1]
            try SQLiteAuditLog.append(
                AuditEvent(
                    .cibaDecided, at: now, clientID: row[0], user: by, outcome: approve ? .success : .failure,
                    reason: "request \(id) \(approve ? "approved" : "denied") for PSU \(psu)"),
                to: db)
            return true
        }
    }

    public func pendingCIBACount(now: Date) async throws(StorageError) -> Int {
        try await database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM ciba_requests WHERE status = 'pending' AND expires_at > ?", arguments: [Self.seconds(now)]) ?? 0
        }
    }

    public func claimCIBANotifications(now: Date, lease: TimeInterval, limit: Int) async throws(StorageError) -> [CIBARequest] {
        let current = Self.seconds(now)
        return try await database.write { db in
            let requests = try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.columns) FROM ciba_requests
                    WHERE delivery_mode IN ('ping', 'push') AND status IN ('approved', 'denied') AND notified_at IS NULL AND expires_at > ?
                        AND (notify_claimed_until IS NULL OR notify_claimed_until <= ?)
                    ORDER BY decided_at LIMIT ?
                    """,
                arguments: [current, current, limit]
            ).map(decode)
            for request in requests {
                try db.execute(
                    sql: "UPDATE ciba_requests SET notify_claimed_until = ? WHERE id = ?", arguments: [Self.seconds(now.addingTimeInterval(lease)), request.id])
            }
            return requests
        }
    }

    public func redeemCIBARequest(id: String) async throws(StorageError) -> Bool {
        try await database.write { db in
            try db.execute(sql: "UPDATE ciba_requests SET status = 'redeemed' WHERE id = ? AND status = 'approved'", arguments: [id])
            return db.changesCount == 1
        }
    }

    public func markCIBANotified(id: String, now: Date) async throws(StorageError) {
        try await database.write { db in
            try db.execute(sql: "UPDATE ciba_requests SET notified_at = ?, ping_auth_req_id = NULL, notification_token = NULL, notification_sealed = NULL WHERE id = ?", arguments: [Self.seconds(now), id])
        }
    }
}
