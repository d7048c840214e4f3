public import AuthorizationServer
import Foundation
import JOSE
import NIOCore
import PostgresNIO

/// `RegistrationStore` over `registrations` and `clients` on PostgreSQL, each change in one transaction.
public struct PostgresRegistrationStore: RegistrationStore {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func insertRegistration(_ client: Client, _ record: RegistrationRecord, audit: AuditEvent?) async throws(StorageError) {
        let metadata = JSON.object(client.metadata).serialized()
        try await database.transaction { tx in
            try await tx.execute(
                "INSERT INTO clients (client_id, metadata, created_at) VALUES (\(client.clientID), \(metadata), \(StoredTime.seconds(client.createdAt)))")
            try await tx.execute(
                """
                INSERT INTO registrations (client_id, access_token_hash, directory, software_id, org_id, certificate_thumbprint, software_statement)
                VALUES (\(record.clientID), \(ByteBuffer(bytes: record.accessTokenHash)), \(record.directory), \(record.softwareID), \(record.orgID),
                    \(record.certificateThumbprint), \(record.softwareStatement))
                """)
            try await PostgresAuditLog.append(audit, to: tx)
        }
    }

    public func registration(clientID: String) async throws(StorageError) -> RegistrationRecord? {
        try await database.map(
            """
            SELECT access_token_hash, directory, software_id, org_id, certificate_thumbprint, software_statement
            FROM registrations WHERE client_id = \(clientID)
            """
        ) { row in
            RegistrationRecord(
                clientID: clientID, accessTokenHash: try row.bytes(0), directory: try row.value(1), softwareID: try row.value(2),
                orgID: try row.value(3), certificateThumbprint: try row.value(4), softwareStatement: try row.value(5))
        }.first
    }

    public func updateRegistration(
        _ client: Client, _ record: RegistrationRecord, previousTokenHash: [UInt8], audit: AuditEvent?
    ) async throws(StorageError) -> Bool {
        let metadata = JSON.object(client.metadata).serialized()
        return try await database.transaction { tx in
            // The client first, as its removal locks it (then its registration, by the cascade).
            try await tx.execute("SELECT 1 FROM clients WHERE client_id = \(client.clientID) FOR UPDATE")
            // The token is rotated only by the request that still holds the current one.
            let updated = try await tx.rows(
                """
                UPDATE registrations SET access_token_hash = \(ByteBuffer(bytes: record.accessTokenHash))
                WHERE client_id = \(client.clientID) AND access_token_hash = \(ByteBuffer(bytes: previousTokenHash)) RETURNING 1
                """)
            guard !updated.isEmpty else { return false }
            try await tx.execute("UPDATE clients SET metadata = \(metadata) WHERE client_id = \(client.clientID)")
            try await PostgresAuditLog.append(audit, to: tx)
            return true
        }
    }
}
