public import CertificateStatus
public import Foundation
import GRDB

/// `StatusCacheStore` over `certificate_status_cache`, bounded to `maximumRows`.
public struct SQLiteStatusCacheStore: StatusCacheStore {
    let database: SQLiteDatabase
    let maximumRows: Int

    public init(database: SQLiteDatabase, maximumRows: Int = 100_000) {
        self.database = database
        self.maximumRows = maximumRows
    }

    public func loadStatuses(now: Date) async throws -> [PersistedStatus] {
        let seconds = Int64(now.timeIntervalSince1970)
        return try await database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT thumbprint, status, reason, revoked_at, source_kind, source_url, valid_until, leaf_der, issuer_der
                    FROM certificate_status_cache WHERE valid_until > ?
                    """,
                arguments: [seconds]
            ).map { row in
                let status: RevocationStatus =
                    (row[1] as String) == "revoked"
                    ? .revoked(reason: row[2], at: (row[3] as Int64?).map { Date(timeIntervalSince1970: TimeInterval($0)) }) : .good
                return PersistedStatus(
                    thumbprint: row[0], status: status, sourceKind: row[4], sourceURL: row[5],
                    until: Date(timeIntervalSince1970: TimeInterval(row[6] as Int64)), leafDER: [UInt8](row[7] as Data),
                    issuerDER: [UInt8](row[8] as Data))
            }
        }
    }

    public func saveStatus(_ status: PersistedStatus, now: Date) async throws {
        let (name, reason, revokedAt): (String, String?, Int64?) =
            switch status.status {
            case .good: ("good", nil, nil)
            case .revoked(let reason, let at): ("revoked", reason, at.map { Int64($0.timeIntervalSince1970) })
            }
        let limit = maximumRows
        try await database.write { db in
            try db.cachedStatement(
                sql: """
                    INSERT OR REPLACE INTO certificate_status_cache
                        (thumbprint, status, reason, revoked_at, source_kind, source_url, valid_until, leaf_der, issuer_der)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                status.thumbprint, name, reason, revokedAt, status.sourceKind, status.sourceURL, Int64(status.until.timeIntervalSince1970),
                Data(status.leafDER), Data(status.issuerDER),
            ])
            try db.execute(sql: "DELETE FROM certificate_status_cache WHERE valid_until < ?", arguments: [Int64(now.timeIntervalSince1970)])
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM certificate_status_cache") ?? 0
            if count > limit {
                try db.execute(
                    sql: """
                        DELETE FROM certificate_status_cache WHERE thumbprint IN
                            (SELECT thumbprint FROM certificate_status_cache ORDER BY valid_until LIMIT ?)
                        """,
                    arguments: [count - limit])
            }
        }
    }
}
