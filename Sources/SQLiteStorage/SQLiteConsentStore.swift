public import AuthorizationServer
public import Foundation
import GRDB
import JOSE

/// `ConsentStore` over `consents`; an update holds SQLite's one write lock from its read to its commit.
public struct SQLiteConsentStore: ConsentStore {
    let database: SQLiteDatabase

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    static func seconds(_ date: Date) -> Int64 { SQLiteDatabase.seconds(date) }
    static func date(_ value: Int64?) -> Date? { value.map { Date(timeIntervalSince1970: TimeInterval($0)) } }
    static let columns = """
        id, client_id, subject, type, authorization_details, scope, status, origin, created_at, updated_at, authorised_at, expires_at,
        decided_by, acr, amr, approvals, approvals_required, certificate_x5t, certificate_status, request_sha256
        """

    static func decode(_ row: Row) throws(StorageError) -> Consent {
        let id: String = row[0]
        return Consent(
            id: id, clientID: row[1], subject: row[2], type: row[3], authorizationDetails: try ConsentStoredForm.details(stored: row[4], id: id),
            scope: row[5], status: try ConsentStoredForm.status(stored: row[6], id: id), origin: try ConsentStoredForm.origin(stored: row[7], id: id),
            createdAt: date(row[8])!, updatedAt: date(row[9]), authorisedAt: date(row[10]), expiresAt: date(row[11])!, decidedBy: row[12],
            acr: row[13], amr: try ConsentStoredForm.amr(stored: row[14], id: id), approvals: try ConsentStoredForm.approvals(stored: row[15], id: id),
            approvalsRequired: row[16], certificateThumbprint: row[17], certificateStatus: row[18], requestHash: row[19])
    }

    public func insertConsent(_ consent: Consent, audit: AuditEvent?) async throws(StorageError) {
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO consents (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    consent.id, consent.clientID, consent.subject, consent.type, consent.authorizationDetails.serialized(), consent.scope,
                    consent.status.rawValue, consent.origin.rawValue, Self.seconds(consent.createdAt), Self.seconds(consent.updatedAt),
                    consent.authorisedAt.map(Self.seconds), Self.seconds(consent.expiresAt), consent.decidedBy, consent.acr,
                    ConsentStoredForm.amr(consent.amr), ConsentStoredForm.approvals(consent.approvals), consent.approvalsRequired,
                    consent.certificateThumbprint, consent.certificateStatus, consent.requestHash,
                ])
            try SQLiteAuditLog.append(audit, to: db)
        }
    }

    public func consent(id: String) async throws(StorageError) -> Consent? {
        try await database.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT \(Self.columns) FROM consents WHERE id = ?"), arguments: [id]).map(Self.decode)
        }
    }

    public func updateConsent<R: Sendable>(
        id: String, _ transition: @escaping @Sendable (Consent) -> StoredTransition<Consent, R>
    ) async throws(StorageError) -> R? {
        try await database.write { db -> R? in
            guard let row = try Row.fetchOne(db, sql: "SELECT \(Self.columns) FROM consents WHERE id = ?", arguments: [id]) else { return nil }
            let step = transition(try Self.decode(row))
            if let next = step.updated {
                try db.execute(
                    sql: """
                        UPDATE consents SET subject = ?, type = ?, authorization_details = ?, scope = ?, status = ?, updated_at = ?, authorised_at = ?,
                            expires_at = ?, decided_by = ?, acr = ?, amr = ?, approvals = ?, approvals_required = ?, certificate_x5t = ?,
                            certificate_status = ?, request_sha256 = ?
                        WHERE id = ?
                        """,
                    arguments: [
                        next.subject, next.type, next.authorizationDetails.serialized(), next.scope, next.status.rawValue, Self.seconds(next.updatedAt),
                        next.authorisedAt.map(Self.seconds), Self.seconds(next.expiresAt), next.decidedBy, next.acr, ConsentStoredForm.amr(next.amr),
                        ConsentStoredForm.approvals(next.approvals), next.approvalsRequired, next.certificateThumbprint, next.certificateStatus,
                        next.requestHash, id,
                    ])
            }
            try SQLiteTokenRows.applyAll(step.revocations, db)
            try SQLiteAuditLog.append(step.audit, to: db)
            return step.result
        }
    }

    public func consents(_ filter: ConsentFilter) async throws(StorageError) -> [Consent] {
        try await database.read { db in
            var conditions: [String] = []
            var arguments: [any DatabaseValueConvertible] = []
            if let client = filter.clientID {
                conditions.append("client_id = ?")
                arguments.append(client)
            }
            if let subject = filter.subject {
                conditions.append("subject = ?")
                arguments.append(subject)
            }
            if let status = filter.status, let now = filter.asOf {
                // The status as of `now` (`Consent.status(at:)`): due awaiting or authorised consents read as expired.
                conditions.append(
                    "(CASE WHEN status IN ('awaiting_authorisation', 'authorised') AND expires_at <= ? THEN 'expired' ELSE status END) = ?")
                arguments.append(Self.seconds(now))
                arguments.append(status.rawValue)
            } else if let status = filter.status {
                conditions.append("status = ?")
                arguments.append(status.rawValue)
            }
            arguments.append(max(0, filter.limit))
            let condition = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            return try Row.fetchAll(
                db, sql: "SELECT \(Self.columns) FROM consents \(condition) ORDER BY created_at DESC, id DESC LIMIT ?",
                arguments: StatementArguments(arguments)
            ).map(Self.decode)
        }
    }
}

extension SQLiteConsentStore {
    public func consentIDs(expiredBy now: Date, limit: Int) async throws(StorageError) -> [String] {
        try await database.read { db in
            // consents_due (migration 0022) holds exactly these rows.
            try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM consents WHERE status IN ('awaiting_authorisation', 'authorised') AND expires_at <= ?
                    ORDER BY expires_at, id LIMIT ?
                    """,
                arguments: [Self.seconds(now), max(0, limit)])
        }
    }
}
