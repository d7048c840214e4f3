public import CertificateStatus
public import Foundation
import AuthorizationServer
import NIOCore
import PostgresNIO

/// `StatusCacheStore` over `certificate_status_cache` on PostgreSQL, bounded to `maximumRows`.
public struct PostgresStatusCacheStore: StatusCacheStore {
    let database: PostgresDatabase
    let maximumRows: Int

    public init(database: PostgresDatabase, maximumRows: Int = 100_000) {
        self.database = database
        self.maximumRows = maximumRows
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
        let limit = Int64(maximumRows)
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
