public import AuthorizationServer
public import Foundation
import JOSE
import PostgresNIO

/// `ConsentStore` on PostgreSQL: an update locks the consent's row (`FOR UPDATE`) until its transaction ends, so
/// approvals and revocations arriving at different instances are decided one at a time.
public struct PostgresConsentStore: ConsentStore {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    static let columns = """
        id, client_id, subject, type, authorization_details, scope, status, origin, created_at, updated_at, authorised_at, expires_at,
        decided_by, acr, amr, approvals, approvals_required, certificate_x5t, certificate_status, request_sha256
        """

    static func decode(_ row: PostgresRandomAccessRow) throws -> Consent {
        let id: String = try row.value(0)
        return Consent(
            id: id, clientID: try row.value(1), subject: try row.value(2), type: try row.value(3),
            authorizationDetails: try ConsentStoredForm.details(stored: try row.value(4), id: id), scope: try row.value(5),
            status: try ConsentStoredForm.status(stored: try row.value(6), id: id), origin: try ConsentStoredForm.origin(stored: try row.value(7), id: id),
            createdAt: try row.date(8), updatedAt: try row.date(9), authorisedAt: try row.optionalDate(10), expiresAt: try row.date(11),
            decidedBy: try row.value(12), acr: try row.value(13), amr: try ConsentStoredForm.amr(stored: try row.value(14), id: id),
            approvals: try ConsentStoredForm.approvals(stored: try row.value(15), id: id),
            approvalsRequired: Int(try row.value(16, as: Int64.self)), certificateThumbprint: try row.value(17), certificateStatus: try row.value(18),
            requestHash: try row.value(19))
    }

    public func insertConsent(_ consent: Consent, audit: AuditEvent?) async throws(StorageError) {
        try await database.transaction { tx in
            try await tx.execute(
                """
                INSERT INTO consents (\(unescaped: Self.columns)) VALUES (\(consent.id), \(consent.clientID), \(consent.subject), \(consent.type),
                    \(consent.authorizationDetails.serialized()), \(consent.scope), \(consent.status.rawValue), \(consent.origin.rawValue),
                    \(StoredTime.seconds(consent.createdAt)), \(StoredTime.seconds(consent.updatedAt)), \(consent.authorisedAt.map(StoredTime.seconds)),
                    \(StoredTime.seconds(consent.expiresAt)), \(consent.decidedBy), \(consent.acr), \(ConsentStoredForm.amr(consent.amr)),
                    \(ConsentStoredForm.approvals(consent.approvals)), \(Int64(consent.approvalsRequired)), \(consent.certificateThumbprint),
                    \(consent.certificateStatus), \(consent.requestHash))
                """)
            try await PostgresAuditLog.append(audit, to: tx)
        }
    }

    public func consent(id: String) async throws(StorageError) -> Consent? {
        try await database.map("SELECT \(unescaped: Self.columns) FROM consents WHERE id = \(id)", Self.decode).first
    }

    public func updateConsent<R: Sendable>(
        id: String, _ transition: @escaping @Sendable (Consent) -> StoredTransition<Consent, R>
    ) async throws(StorageError) -> R? {
        try await database.transaction { tx -> R? in
            guard let row = try await tx.rows("SELECT \(unescaped: Self.columns) FROM consents WHERE id = \(id) FOR UPDATE").first else { return nil }
            let step = transition(try Self.decode(row))
            if let next = step.updated {
                try await tx.execute(
                    """
                    UPDATE consents SET subject = \(next.subject), type = \(next.type), authorization_details = \(next.authorizationDetails.serialized()),
                        scope = \(next.scope), status = \(next.status.rawValue), updated_at = \(StoredTime.seconds(next.updatedAt)),
                        authorised_at = \(next.authorisedAt.map(StoredTime.seconds)), expires_at = \(StoredTime.seconds(next.expiresAt)),
                        decided_by = \(next.decidedBy), acr = \(next.acr), amr = \(ConsentStoredForm.amr(next.amr)),
                        approvals = \(ConsentStoredForm.approvals(next.approvals)), approvals_required = \(Int64(next.approvalsRequired)),
                        certificate_x5t = \(next.certificateThumbprint), certificate_status = \(next.certificateStatus),
                        request_sha256 = \(next.requestHash)
                    WHERE id = \(id)
                    """)
            }
            try await PostgresTokenRows.applyAll(step.revocations, tx)
            try await PostgresAuditLog.append(step.audit, to: tx)
            return step.result
        }
    }

    public func consents(_ filter: ConsentFilter) async throws(StorageError) -> [Consent] {
        // Nil filters match every row: `$n IS NULL OR column = $n` keeps one statement for every combination.
        let asOf = filter.asOf.map(StoredTime.seconds)
        return try await database.map(
            """
            SELECT \(unescaped: Self.columns) FROM consents
            WHERE (\(filter.clientID)::text IS NULL OR client_id = \(filter.clientID))
                AND (\(filter.subject)::text IS NULL OR subject = \(filter.subject))
                -- The status as stored, or as of `asOf` when given (`Consent.status(at:)`: due awaiting or authorised consents
                -- read as expired).
                AND (\(filter.status?.rawValue)::text IS NULL
                    OR (CASE WHEN \(asOf)::bigint IS NOT NULL AND status IN ('awaiting_authorisation', 'authorised') AND expires_at <= \(asOf)::bigint
                        THEN 'expired' ELSE status END) = \(filter.status?.rawValue))
            ORDER BY created_at DESC, id DESC LIMIT \(Int64(max(0, filter.limit)))
            """, Self.decode)
    }
}

extension PostgresConsentStore {
    public func consentIDs(expiredBy now: Date, limit: Int) async throws(StorageError) -> [String] {
        // consents_due (migration 0022) holds exactly these rows.
        try await database.map(
            """
            SELECT id FROM consents WHERE status IN ('awaiting_authorisation', 'authorised') AND expires_at <= \(StoredTime.seconds(now))
            ORDER BY expires_at, id LIMIT \(Int64(max(0, limit)))
            """
        ) { row in try row.value(0, as: String.self) }
    }
}
