public import AuthorizationServer
public import CertificateStatus
public import Foundation
import JOSE
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
        poll_interval, last_polled_at, status, decided_by, decided_at, ping_auth_req_id, notification_sealed
        """

    func decode(_ row: PostgresRandomAccessRow) throws -> CIBARequest {
        var request = CIBARequest(
            id: try row.value(0), authReqIDHash: try row.bytes(1), clientID: try row.value(2), username: try row.value(3), scope: try row.value(4),
            bindingMessage: try row.value(5), acr: try row.value(6), deliveryMode: try row.value(7), notificationToken: try row.value(8),
            createdAt: try row.date(9), expiresAt: try row.date(10), interval: Int(try row.value(11, as: Int64.self)), lastPolledAt: try row.optionalDate(12),
            status: CIBARequest.Status(rawValue: try row.value(13)) ?? .pending, decidedBy: try row.value(14), decidedAt: try row.optionalDate(15),
            pingAuthReqID: try row.value(16))
        if let sealed = try row.optionalBytes(17) {
            // Sealed under another key (or altered): no secrets, so no notification is sent from here.
            let secrets = sealer?.open(sealed, requestID: request.id)
            request.pingAuthReqID = secrets?.authReqID
            request.notificationToken = secrets?.notificationToken
        }
        return request
    }

    public func insertCIBARequest(_ original: CIBARequest, audit: AuditEvent?) async throws(StorageError) {
        var sealed: ByteBuffer?
        var request = original
        if let sealer, original.pingAuthReqID != nil || original.notificationToken != nil {
            let secrets = CIBANotificationSealer.Secrets(authReqID: original.pingAuthReqID, notificationToken: original.notificationToken)
            sealed = ByteBuffer(bytes: try sealer.seal(secrets, requestID: original.id))
            request.pingAuthReqID = nil
            request.notificationToken = nil
        }
        try await database.transaction { [request, sealed] tx in
            try await tx.execute(
                """
                INSERT INTO ciba_requests (\(unescaped: Self.columns)) VALUES (\(request.id), \(ByteBuffer(bytes: request.authReqIDHash)), \(request.clientID),
                    \(request.username), \(request.scope), \(request.bindingMessage), \(request.acr), \(request.deliveryMode),
                    \(request.notificationToken), \(StoredTime.seconds(request.createdAt)), \(StoredTime.seconds(request.expiresAt)),
                    \(Int64(request.interval)), \(request.lastPolledAt.map(StoredTime.seconds)), \(request.status.rawValue), \(request.decidedBy),
                    \(request.decidedAt.map(StoredTime.seconds)), \(request.pingAuthReqID), \(sealed))
                """)
            try await PostgresAuditLog.append(audit, to: tx)
        }
    }

    public func pollCIBARequest(authReqIDHash: [UInt8], clientID: String, now: Date) async throws(StorageError) -> CIBAPoll {
        let current = StoredTime.seconds(now)
        return try await database.transaction { tx -> CIBAPoll in
            guard
                let row = try await tx.rows(
                    "SELECT \(unescaped: Self.columns) FROM ciba_requests WHERE auth_req_id_hash = \(ByteBuffer(bytes: authReqIDHash)) FOR UPDATE"
                ).first
            else { return .invalid }
            let request = try decode(row)
            guard request.clientID == clientID, request.status != .redeemed else { return .invalid }
            if request.expiresAt <= now { return .expired }
            switch request.status {
            case .denied: return .denied
            case .approved:
                try await tx.execute("UPDATE ciba_requests SET status = 'redeemed' WHERE id = \(request.id)")
                return .approved(request)
            default:
                if let last = request.lastPolledAt, now.timeIntervalSince(last) < TimeInterval(request.interval) {
                    // CIBA Core §11: slow_down, and the client must add 5 s to its interval.
                    try await tx.execute(
                        "UPDATE ciba_requests SET poll_interval = poll_interval + 5, last_polled_at = \(current) WHERE id = \(request.id)")
                    return .slowDown
                }
                try await tx.execute("UPDATE ciba_requests SET last_polled_at = \(current) WHERE id = \(request.id)")
                return .pending
            }
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

    public func decideCIBARequest(id: String, approve: Bool, by: String, now: Date) async throws(StorageError) -> Bool {
        let current = StoredTime.seconds(now)
        return try await database.transaction { tx in
            guard
                let row = try await tx.rows(
                    """
                    UPDATE ciba_requests SET status = \(approve ? "approved" : "denied"), decided_by = \(by), decided_at = \(current)
                    WHERE id = \(id) AND status = 'pending' AND expires_at > \(current) RETURNING client_id, username
                    """
                ).first
            else { return false }
            let psu = try row.value(1, as: String.self)
            try await PostgresAuditLog.append(
                AuditEvent(
                    .cibaDecided, at: now, clientID: try row.value(0, as: String.self), user: by, outcome: approve ? .success : .failure,
                    reason: "request \(id) \(approve ? "approved" : "denied") for PSU \(psu)"),
                to: tx)
            return true
        }
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

    public func redeemCIBARequest(id: String) async throws(StorageError) -> Bool {
        try await !database.rows("UPDATE ciba_requests SET status = 'redeemed' WHERE id = \(id) AND status = 'approved' RETURNING 1").isEmpty
    }

    public func markCIBANotified(id: String, now: Date) async throws(StorageError) {
        _ = try await database.rows(
            "UPDATE ciba_requests SET notified_at = \(StoredTime.seconds(now)), ping_auth_req_id = NULL, notification_token = NULL, notification_sealed = NULL WHERE id = \(id)")
    }
}

/// `SigningKeyStore` and `StatusCacheStore` on PostgreSQL.
public struct PostgresKeyStore: SigningKeyStore, StatusCacheStore {
    let database: PostgresDatabase
    let maximumStatusRows: Int

    public init(database: PostgresDatabase, maximumStatusRows: Int = 100_000) {
        self.database = database
        self.maximumStatusRows = maximumStatusRows
    }

    public func signingKeys() async throws(StorageError) -> [SigningKeyRecord] {
        let rows = try await database.map(
            "SELECT kid, alg, key_file, created_at, retired_at, publish_until, sealed_key FROM signing_keys ORDER BY created_at, kid"
        ) { row in
            (
                try row.value(0, as: String.self), try row.value(1, as: String.self), try row.value(2, as: String.self), try row.date(3),
                try row.optionalDate(4), try row.optionalDate(5), try row.optionalBytes(6)
            )
        }
        var records: [SigningKeyRecord] = []
        for (kid, alg, keyFile, createdAt, retiredAt, publishUntil, sealed) in rows {
            guard let algorithm = JWSAlgorithm(rawValue: alg) else { throw StorageError(.conflict, "signing key with unknown alg \(alg)") }
            records.append(
                SigningKeyRecord(
                    kid: kid, algorithm: algorithm, keyFile: keyFile, createdAt: createdAt, retiredAt: retiredAt, publishUntil: publishUntil,
                    sealedKey: sealed))
        }
        return records
    }

    public func insertSigningKey(_ record: SigningKeyRecord, audit: AuditEvent?) async throws(StorageError) {
        try await database.transaction { tx in
            try await Self.insert(record, tx)
            try await PostgresAuditLog.append(audit, to: tx)
        }
    }

    public func rotateSigningKey(to newKey: SigningKeyRecord, at: Date, publishUntil: Date, audit: AuditEvent?) async throws(StorageError) {
        try await database.transaction { tx in
            try await tx.execute(
                """
                UPDATE signing_keys SET retired_at = \(StoredTime.seconds(at)), publish_until = \(StoredTime.seconds(publishUntil))
                WHERE alg = \(newKey.algorithm.rawValue) AND retired_at IS NULL
                """)
            try await Self.insert(newKey, tx)
            try await PostgresAuditLog.append(audit, to: tx)
        }
    }

    private static func insert(_ record: SigningKeyRecord, _ tx: Transaction) async throws {
        try await tx.execute(
            """
            INSERT INTO signing_keys (kid, alg, key_file, created_at, retired_at, publish_until, sealed_key)
            VALUES (\(record.kid), \(record.algorithm.rawValue), \(record.keyFile), \(StoredTime.seconds(record.createdAt)),
                \(record.retiredAt.map(StoredTime.seconds)), \(record.publishUntil.map(StoredTime.seconds)),
                \(record.sealedKey.map { ByteBuffer(bytes: $0) }))
            """)
    }

    public func loadStatuses(now: Date) async throws -> [PersistedStatus] {
        try await database.map(
            """
            SELECT thumbprint, status, reason, revoked_at, source_kind, source_url, valid_until, leaf_der, issuer_der
            FROM certificate_status_cache WHERE valid_until > \(StoredTime.seconds(now))
            """
        ) { row in
            let status: RevocationStatus =
                try row.value(1, as: String.self) == "revoked" ? .revoked(reason: try row.value(2), at: try row.optionalDate(3)) : .good
            return PersistedStatus(
                thumbprint: try row.value(0), status: status, sourceKind: try row.value(4), sourceURL: try row.value(5), until: try row.date(6),
                leafDER: try row.bytes(7), issuerDER: try row.bytes(8))
        }
    }

    public func saveStatus(_ status: PersistedStatus, now: Date) async throws {
        let (name, reason, revokedAt): (String, String?, Int64?) =
            switch status.status {
            case .good: ("good", nil, nil)
            case .revoked(let reason, let at): ("revoked", reason, at.map(StoredTime.seconds))
            }
        let limit = Int64(maximumStatusRows)
        try await database.transaction { tx in
            try await tx.execute(
                """
                INSERT INTO certificate_status_cache
                    (thumbprint, status, reason, revoked_at, source_kind, source_url, valid_until, leaf_der, issuer_der)
                VALUES (\(status.thumbprint), \(name), \(reason), \(revokedAt), \(status.sourceKind), \(status.sourceURL),
                    \(StoredTime.seconds(status.until)), \(ByteBuffer(bytes: status.leafDER)), \(ByteBuffer(bytes: status.issuerDER)))
                ON CONFLICT (thumbprint) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason, revoked_at = EXCLUDED.revoked_at,
                    source_kind = EXCLUDED.source_kind, source_url = EXCLUDED.source_url, valid_until = EXCLUDED.valid_until,
                    leaf_der = EXCLUDED.leaf_der, issuer_der = EXCLUDED.issuer_der
                """)
            try await tx.execute("DELETE FROM certificate_status_cache WHERE valid_until < \(StoredTime.seconds(now))")
            try await tx.execute(
                """
                DELETE FROM certificate_status_cache WHERE thumbprint IN (
                    SELECT thumbprint FROM certificate_status_cache ORDER BY valid_until DESC OFFSET \(limit))
                """)
        }
    }
}
