public import AuthorizationServer
public import Foundation
import GRDB
import JOSE

/// `SigningKeyStore` over the `signing_keys` table.
public struct SQLiteSigningKeyStore: SigningKeyStore {
    let database: SQLiteDatabase

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    public func signingKeys() async throws(StorageError) -> [SigningKeyRecord] {
        let rows = try await database.read { db in
            try Row.fetchAll(
                db, sql: """
                SELECT kid, alg, key_file, created_at, retired_at, publish_until, sealed_key, activates_at, recorded_state, public_jwk
                FROM signing_keys ORDER BY created_at, kid
                """
            )
            .map { row -> (String, String, String, Int64, Int64?, Int64?, Data?, Int64?, String?, String?) in
                (
                    row["kid"], row["alg"], row["key_file"], row["created_at"], row["retired_at"], row["publish_until"], row["sealed_key"],
                    row["activates_at"], row["recorded_state"], row["public_jwk"]
                )
            }
        }
        var records: [SigningKeyRecord] = []
        for (kid, alg, keyFile, createdAt, retiredAt, publishUntil, sealed, activatesAt, recorded, publicJWK) in rows {
            guard let algorithm = JWSAlgorithm(rawValue: alg) else { throw StorageError(.conflict, "signing key with unknown alg \(alg)") }
            records.append(
                SigningKeyRecord(
                    kid: kid,
                    algorithm: algorithm,
                    keyFile: keyFile,
                    createdAt: Self.date(createdAt)!,
                    activatesAt: Self.date(activatesAt),
                    retiredAt: Self.date(retiredAt),
                    publishUntil: Self.date(publishUntil),
                    sealedKey: sealed.map { [UInt8]($0) },
                    recordedState: recorded.flatMap(SigningKeyRecord.State.init(rawValue:)),
                    publicJWK: publicJWK
                )
            )
        }
        return records
    }

    public func insertSigningKey(_ record: SigningKeyRecord, audit: AuditEvent?) async throws(StorageError) {
        try await database.write { db in
            try Self.insert(record, into: db)
            try SQLiteAuditLog.append(audit, to: db)
        }
    }

    public func rotateSigningKey(to newKey: SigningKeyRecord, at: Date, publishUntil: Date, audit: AuditEvent?) async throws(StorageError) {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE signing_keys SET retired_at = ?, publish_until = ? WHERE alg = ? AND (retired_at IS NULL OR retired_at > ?)",
                arguments: [Self.seconds(at), Self.seconds(publishUntil), newKey.algorithm.rawValue, Self.seconds(at)]
            )
            try Self.insert(newKey, into: db)
            try SQLiteAuditLog.append(audit, to: db)
        }
    }

    public func recordSigningKeyState(kid: String, state: SigningKeyRecord.State, audit: AuditEvent) async throws(StorageError) -> Bool {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE signing_keys SET recorded_state = ? WHERE kid = ? AND \(SigningKeyRecord.State.earlierSQL(than: state))",
                arguments: [state.rawValue, kid])
            guard db.changesCount == 1 else { return false }
            try SQLiteAuditLog.append(audit, to: db)
            return true
        }
    }

    private static func insert(_ record: SigningKeyRecord, into db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO signing_keys (kid, alg, key_file, created_at, retired_at, publish_until, sealed_key, activates_at, recorded_state,
                    public_jwk)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                record.kid, record.algorithm.rawValue, record.keyFile, seconds(record.createdAt), record.retiredAt.map(seconds),
                record.publishUntil.map(seconds), record.sealedKey.map { Data($0) }, record.activatesAt.map(seconds),
                record.recordedState?.rawValue, record.publicJWK,
            ]
        )
    }

    static func seconds(_ date: Date) -> Int64 { SQLiteDatabase.seconds(date) }
    static func date(_ seconds: Int64?) -> Date? { seconds.map { Date(timeIntervalSince1970: TimeInterval($0)) } }
}
