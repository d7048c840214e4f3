public import AuthorizationServer
public import Foundation
import JOSE
import NIOCore
import PostgresNIO

/// `SigningKeyStore` over the `signing_keys` table on PostgreSQL.
public struct PostgresSigningKeyStore: SigningKeyStore {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func signingKeys() async throws(StorageError) -> [SigningKeyRecord] {
        let rows = try await database.map(
            """
            SELECT kid, alg, key_file, created_at, retired_at, publish_until, sealed_key, activates_at, recorded_state, public_jwk
            FROM signing_keys ORDER BY created_at, kid
            """
        ) { row in
            (
                try row.value(0, as: String.self), try row.value(1, as: String.self), try row.value(2, as: String.self), try row.date(3),
                try row.optionalDate(4), try row.optionalDate(5), try row.optionalBytes(6), try row.optionalDate(7),
                try row.value(8, as: String?.self), try row.value(9, as: String?.self)
            )
        }
        var records: [SigningKeyRecord] = []
        for (kid, alg, keyFile, createdAt, retiredAt, publishUntil, sealed, activatesAt, recorded, publicJWK) in rows {
            guard let algorithm = JWSAlgorithm(rawValue: alg) else { throw StorageError(.conflict, "signing key with unknown alg \(alg)") }
            records.append(
                SigningKeyRecord(
                    kid: kid, algorithm: algorithm, keyFile: keyFile, createdAt: createdAt, activatesAt: activatesAt, retiredAt: retiredAt,
                    publishUntil: publishUntil, sealedKey: sealed, recordedState: recorded.flatMap(SigningKeyRecord.State.init(rawValue:)), publicJWK: publicJWK))
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
                WHERE alg = \(newKey.algorithm.rawValue) AND (retired_at IS NULL OR retired_at > \(StoredTime.seconds(at)))
                """)
            try await Self.insert(newKey, tx)
            try await PostgresAuditLog.append(audit, to: tx)
        }
    }

    public func recordSigningKeyState(kid: String, state: SigningKeyRecord.State, audit: AuditEvent) async throws(StorageError) -> Bool {
        try await database.transaction { tx in
            let noted = try await tx.rows(
                """
                UPDATE signing_keys SET recorded_state = \(state.rawValue)
                WHERE kid = \(kid) AND \(unescaped: SigningKeyRecord.State.earlierSQL(than: state)) RETURNING kid
                """)
            guard !noted.isEmpty else { return false }
            try await PostgresAuditLog.append(audit, to: tx)
            return true
        }
    }

    private static func insert(_ record: SigningKeyRecord, _ tx: Transaction) async throws {
        try await tx.execute(
            """
            INSERT INTO signing_keys (kid, alg, key_file, created_at, retired_at, publish_until, sealed_key, activates_at, recorded_state, public_jwk)
            VALUES (\(record.kid), \(record.algorithm.rawValue), \(record.keyFile), \(StoredTime.seconds(record.createdAt)),
                \(record.retiredAt.map(StoredTime.seconds)), \(record.publishUntil.map(StoredTime.seconds)),
                \(record.sealedKey.map { ByteBuffer(bytes: $0) }), \(record.activatesAt.map(StoredTime.seconds)), \(record.recordedState?.rawValue),
                \(record.publicJWK))
            """)
    }
}
